"""The Python client: transports, results, Client, Account and Contract handles, the pytest plugin."""
