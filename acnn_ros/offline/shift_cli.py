# SPDX-License-Identifier: Apache-2.0
"""
`acnn shift export`: a shift's part rows from the shift database as CSV.

    acnn shift export --database /var/lib/acnn/shift.sqlite --station station1 --out shift.csv
    acnn shift export --database postgresql://acnn@plant-db/aoi --station station2 --shift 12

One row per part (the columns of core/shift/schema.parts); the station's latest shift unless
`--shift N` (`--shift all`: every shift of the station). `--out -` writes to stdout.
"""
import argparse
import sys

from acnn_ros.core.shift.store import ShiftStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sub-command's arguments."""
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    export = actions.add_parser('export', help="write a shift's parts as CSV")
    export.add_argument('--database', required=True,
                        help='SQLite file (hmi_node database) or postgresql:// URL')
    export.add_argument('--station', required=True, help='station id (hmi_node station_id)')
    export.add_argument('--shift', default='latest',
                        help='shift id, latest (default) or all')
    export.add_argument('--out', default='-', help='CSV file, - for stdout (default)')


def run(args) -> int:
    """Export; return 0, or 2 when there is no such shift."""
    store = ShiftStore(args.database, args.station)
    try:
        if args.shift == 'all':
            shift = None
        elif args.shift == 'latest':
            shift = store.latest_shift()
            if shift is None:
                print(f'error: station {args.station} has no shift in {args.database}',
                      file=sys.stderr)
                return 2
        else:
            shift = int(args.shift)
        if args.out == '-':
            count = store.export_csv(sys.stdout, shift)
        else:
            with open(args.out, 'w', newline='', encoding='utf-8') as stream:
                count = store.export_csv(stream, shift)
        which = 'all' if shift is None else shift
        print(f'{count} parts of station {args.station}, shift {which} -> {args.out}',
              file=sys.stderr)
        return 0
    finally:
        store.close()
