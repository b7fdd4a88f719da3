"""The embedded stack: moto's AWS endpoint, the runtime, the backend emulators and the local alarm evaluator in
one process on loopback, plus the demo scenario that drives it (`voicectl demo`, `voicectl local up`)."""
