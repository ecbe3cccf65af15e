"""Play days with policies and compare them: rollouts, simulate, paired comparison and its rendering."""
