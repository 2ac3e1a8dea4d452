"""The HTTP app: subscribe, unsubscribe, listen, archive, ops API."""
