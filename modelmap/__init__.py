"""SQLAlchemy model discovery, model/relationship introspection and the ER diagram."""
