"""What comes out of a labelled workspace: CSV/JSONL/RTTM tables and clips, training datasets,
the season's HTML report, and scores against ground truth."""
