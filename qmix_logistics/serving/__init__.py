"""Server side of serving a trained policy: the FastAPI app, its service, guard and runner, and model export.

The client that simulates vehicles asking a server is a policy: ``qmix_logistics.policies.remote``.
"""
