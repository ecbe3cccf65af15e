"""Play days with policies and compare them: rollouts, simulate, paired comparison (compare), its
tables, chart and files (render), resumable runs (journal, eval_run) and run folders (run_folder)."""
