"""Commented example configs printed by `plotboss-cli config init`; each loads as is (a test checks)."""

from __future__ import annotations

PLOTTER = """\
# plotter.yaml — plotboss plotter agent (one per plotting machine). Names follow plotman's where it has one.
version: 1
agent:
  name: plotter-01                 # shown in fleet views
  listen: "127.0.0.1:8470"         # non-loopback needs tls (or --insecure on purpose)
  poll_s: 5                        # how often the process table and logs are read
  stall_after_s: 600               # flag a job whose log has not grown this long while it is not running
  kill_grace_s: 10                 # SIGTERM -> SIGKILL delay when killing a job
  # tls: {cert: /etc/plotboss/plotter-01.pem, key: /etc/plotboss/plotter-01.key, client_ca: /etc/plotboss/ca.pem}
  # tokens:                        # bearer tokens; control may call everything, read only read RPCs. Without any,
  #                                # reads are open and control needs the local credential (see README, Security)
  #   read: [{file: /etc/plotboss/read.token}]
  #   control: [{env: PLOTBOSS_CONTROL_TOKEN}]
logging:
  plots: /var/lib/plotboss/logs/plots          # plot job logs: jobs whose output goes here are fully tracked
  transfers: /var/lib/plotboss/logs/transfers
directories:
  tmp: [/mnt/tmp/00, /mnt/tmp/01]
  tmp2: /mnt/tmp2
  dst: [/mnt/dst/00]
scheduling:
  global_max_jobs: 8
  global_stagger_m: 30
  tmpdir_max_jobs: 3
  tmpdir_stagger_phase_major: 2
  tmpdir_stagger_phase_minor: 1
  tmpdir_stagger_phase_limit: 1
  tmp_overrides: {}                # e.g. {/mnt/tmp/01: {tmpdir_max_jobs: 1}}
  polling_time_s: 20
  dst_min_free_bytes: 0            # free space each dst dir keeps beyond the plots inbound and the next one
# Without a plotting section the agent only watches; with one it starts jobs by the scheduling rules above.
# plotting:
#   type: chia                     # or madmax, bladebit
#   farmer_pk: <your farmer public key, 96 hex digits>
#   pool_contract_address: <xch1... of your plot NFT>   # or pool_pk
#   nice: 10                       # started jobs run at this niceness
#   chia: {executable: chia, k: 32, n_threads: 2, n_buckets: 128, job_buffer: 3389}
#   madmax: {executable: chia_plot, k: 32, n_threads: 4, n_buckets: 256, n_buckets3: 256, n_rmulti2: 1}
#   bladebit: {executable: bladebit, mode: diskplot, k: 32, compression: 1}
archiving:                         # with farmers, finished plots move to them by themselves (logging.transfers needed)
  farmers: []                      # e.g. [{name: farmer-01, address: "farmer-01:8471",
  #                                #         token: {file: /etc/plotboss/farmer.token}}]
  priority: []                     # farmer names to prefer, in order (others after, most free room first)
  max_concurrent_transfers: 1
  max_readers_per_dir: 1           # pushes reading one dst dir at once
  polling_time_s: 5
  settle_s: 5                      # a plot modified more recently is not sent yet
  retry_base_s: 10                 # back-off after a failed attempt, doubling up to retry_cap_s
  retry_cap_s: 600
  # stall_timeout_s: 300           # a push not moving this long is killed and resumed (default 5 x io_timeout_s)
  transfer_log_retention_days: 14  # handled transfer logs (.done/.failed) older than this are removed; 0: kept
  rsync: {bwlimit_kbps: 0, io_timeout_s: 60, connect_timeout_s: 20}   # password: {file: /etc/plotboss/rsync.secret}
"""

FARMER = """\
# farmer.yaml — plotboss farmer agent (one per farming machine).
version: 1
agent:
  name: farmer-01
  listen: "127.0.0.1:8471"         # non-loopback needs tls (or --insecure on purpose)
  poll_s: 5                        # how often drives are probed
  probe_timeout_s: 5               # a drive slower than this is reported as error, never stalls answers
  # tls: {cert: /etc/plotboss/farmer-01.pem, key: /etc/plotboss/farmer-01.key, client_ca: /etc/plotboss/ca.pem}
  # tokens: {read: [{file: /etc/plotboss/read.token}], control: [{file: /etc/plotboss/control.token}]}
drives:
  paths: ["/mnt/farm/*"]           # explicit paths and globs
  allow_non_mount: false           # refuse drives that are not mount points (an unmounted drive is not empty space)
  min_free_bytes: 0                # never fill a drive past this floor
  max_writers_per_drive: 1         # concurrent transfers into one drive, fleet-wide
  policy: most_free                # or fill_first
rsyncd:                            # the rsync daemon module that exposes the drives to plotters
  host: farmer-01
  port: 873
  module: plots
  path: /mnt/farm                  # the module's path; every drive must be under it
  # user: plotboss
  # password_file: {file: /etc/plotboss/rsyncd.password}
reservations:
  lease_s: 120                     # a reservation not renewed for this long is released
  # state_file: /var/lib/plotboss/farmer-state.json
"""

FLEET = """\
# fleet.yaml — the agents plotboss-cli talks to (plotboss-cli --fleet fleet.yaml status).
version: 1
plotters:
  - name: plotter-01
    address: "127.0.0.1:8470"
    # token_file: ~/.config/plotboss/plotter-01.token
    # tls_ca: ~/.config/plotboss/ca.pem
farmers:
  - name: farmer-01
    address: "127.0.0.1:8471"
"""

EXAMPLES = {"plotter": PLOTTER, "farmer": FARMER, "fleet": FLEET}
