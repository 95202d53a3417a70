"""The workspace folder: its SQLite database, the Workspace that reads and writes it, backups,
the one-writer lock, the doctor that checks and repairs it, and stable group ids."""
