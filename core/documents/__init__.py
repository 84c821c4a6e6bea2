"""Documents and certificates: metadata in the database, bytes in object storage (R-ONB-02)."""
