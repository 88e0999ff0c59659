#!/bin/sh
# Destroys the TIME_WAIT sockets of the benchmark's agent ports (11050-11052), so that
# the measurement's own connections do not grow the counted population. Run in the
# benchmark namespace.
exec ss -K -tan state time-wait '( sport >= :11050 and sport <= :11052 ) or ( dport >= :11050 and dport <= :11052 )' >/dev/null 2>&1
