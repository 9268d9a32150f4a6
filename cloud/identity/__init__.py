"""Device identity: the fleet CA, device certificates and passwords, enrollment tokens, revocation.

Nouns, and where each lives:

* ``ca.FleetCA``: the fleet's certificate authority. Signs device client certificates (CN = device id),
  the broker's server certificate and the cloud's own client certificate; publishes the CRL.
* ``credentials``: what a device holds (its key pair, certificate signing request, certificate) and
  the per-device MQTT password fallback, stored only as a PBKDF2-SHA512 hash Mosquitto can read.
* ``enrollment``: single-use, expiring, tenant-bound enrollment tokens; pure rules, storage passed in.
* ``names``: which MQTT identities are devices and which are services (never confusable).

Everything here is a function of its inputs (keys, times, rows); files and databases are at the edges.
"""
