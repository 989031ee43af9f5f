package bus

// A message whose handler crashes the process (or hangs past AckWait) every time is never
// settled, and JetStream stops delivering it after MaxDeliver deliveries without telling anyone:
// the message, and the run waiting for it, would be lost silently. So the server is given one
// delivery more than the spec allows. Deliveries 1..MaxDeliver reach the handler as usual (a failure
// on the last makes the message poison); a delivery beyond MaxDeliver means every allowed one ended
// unsettled, and the router records the message as poison without calling the handler again.

// serverMaxDeliver is the MaxDeliver the server is configured with for a spec's MaxDeliver
// (0 or less: unlimited).
func serverMaxDeliver(specMax int) int {
	if specMax <= 0 {
		return -1
	}
	return specMax + 1
}

// unsettled reports whether a delivery is the extra one: every delivery the spec allows ended
// without an ack or a nak.
func unsettled(specMax int, delivered uint64) bool {
	return specMax > 0 && delivered > uint64(specMax)
}
