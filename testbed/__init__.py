"""The test bed: the real parts tests, benchmarks, the demo and fleet simulations run plotboss against, and the seams
they fake. Not part of plotboss itself; import the module you need (nothing is re-exported here).

- ``standin``: the chia stand-in (``testbed/chia``, real plots with chiapos) and starting plot jobs with it;
- ``children``: stopping a child process with its session;
- ``agents``: agent configs, agents as real processes (``start_agent``) or in this process (``serve_in_process``),
  gRPC helpers;
- ``rsyncd``: a real rsync daemon on loopback;  ``certs``: TLS material made with trustme;
- ``procs``: a fake process table and the process facts/jobs it holds;  ``clock``: one virtual clock;
- ``drives``: small fake drives for the farmer (its disk-space seam);
- for the benchmarks: ``logstamp`` (completed logs from samples), ``jobfleet`` (held plot jobs), ``installs``
  (plotman, plotboss as users install it), ``stats`` (timed processes, series, agent CPU per poll).
"""
