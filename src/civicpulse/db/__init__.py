from civicpulse.db.base import Base, UTCDateTime, utcnow
from civicpulse.db.session import Database, get_database

__all__ = ["Base", "UTCDateTime", "utcnow", "Database", "get_database"]
