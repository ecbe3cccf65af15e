"""The SimPy simulation of a day: order demand, the world (pickers, docks, vehicles) and its KPIs."""
