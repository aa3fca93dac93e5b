"""Quality: eval sets, public benchmarks (SciFact, SQuAD), calibration and fitting the answer models."""
