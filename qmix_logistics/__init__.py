"""qmix-logistics: fleet dispatch with SimPy simulation, QMIX learning and OR-Tools/PyVRP baselines."""

__version__ = "0.1.0"
