"""mdembed: multi-domain, non-cooperative VNF-FG embedding with deep reinforcement learning."""

__version__ = "0.1.0"
