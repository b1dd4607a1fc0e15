"""The Job Service: the API server and its background loops."""
