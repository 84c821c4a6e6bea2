"""The GraphQL API: core types plus what plugins contribute, served at /graphql."""
