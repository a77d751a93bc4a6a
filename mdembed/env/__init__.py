"""The multi-domain market as a PettingZoo ParallelEnv."""
