"""Process-wide pieces: typed settings and the database engine."""
