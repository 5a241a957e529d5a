"""One routes module per resource; pages and the /api/v1 JSON API."""
