"""The human in the loop: the ranked review queue whose answers become human actions, and what
each labelling or editing command changed, in words."""
