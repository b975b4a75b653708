"""Training an NS-N2N network: the patch sampler, the optimiser step, the divergence guard and
the loop that yields progress events."""
