"""Tables and rows through reflected SQLAlchemy tables: grids, forms, export; the SQL console."""
