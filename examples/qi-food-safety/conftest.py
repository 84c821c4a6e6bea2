# The platform's fixtures (app, client, gql, make_user, register_plugin …) are a pytest plugin.
pytest_plugins = ["core.testing"]
