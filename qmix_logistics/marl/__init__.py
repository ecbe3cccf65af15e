"""marl"""
