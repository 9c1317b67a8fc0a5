# SPDX-License-Identifier: Apache-2.0
"""
A line PLC stand-in for the OPC UA backend: a real asyncua server on 127.0.0.1 recording writes.

Used by the tests and by hand::

    sim = OpcUaSimulator()             # port=0: a free port is picked, see sim.port
    sim.start()                        # serves in a background thread (~1 s to start)
    sim.endpoint                       # 'opc.tcp://127.0.0.1:<port>/acnn_ros/'
    ...
    sim.decisions()                    # [ReceivedDecision(time, part_id, verdict, reason, valid)]
    sim.heartbeat_toggles()            # times the heartbeat variable changed value
    sim.stop()                         # or sim.restart(): same port, records kept

or from a shell: `python -m acnn_ros.core.plc.opcua.simulator --port 4840` (prints every write).
The variables are those of docs/LINE_INTEGRATION.md "OPC UA backend" (core/plc/opcua/config.py
defaults):
namespace `urn:acnn_ros:vision`, string node ids Vision.PartId (UInt32), Vision.Verdict
(UInt16), Vision.Reason (UInt16), Vision.Heartbeat (Boolean).
"""
import argparse
import asyncio
from datetime import datetime, timezone
import logging
import sys
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from acnn_ros.core.plc.loop_server import free_port, LoopThreadServer, ReceivedDecision
from asyncua import Server, ua
from asyncua.common.callback import CallbackType

NAMESPACE_URI = 'urn:acnn_ros:vision'
# (string node id, OPC UA type, initial value) of every variable the vision system writes.
VARIABLES = (
    ('Vision.PartId', ua.VariantType.UInt32, 0),
    ('Vision.Verdict', ua.VariantType.UInt16, 0),
    ('Vision.Reason', ua.VariantType.UInt16, 0),
    ('Vision.Heartbeat', ua.VariantType.Boolean, False),
    ('Vision.ValidUntil', ua.VariantType.DateTime, datetime(2000, 1, 1, tzinfo=timezone.utc)),
)


class OpcUaWrite(NamedTuple):
    """One Write service request as the server received it (time.time() seconds)."""

    time: float
    values: Tuple[Tuple[str, Any], ...]   # (string node id, value) in request order
    good: bool                            # every item of the request was written

    def as_dict(self) -> Dict[str, Any]:
        """Return {string node id: value} of this request."""
        return dict(self.values)


class OpcUaSimulator(LoopThreadServer):
    """asyncua server on 127.0.0.1 recording writes; start/stop/restart from any thread."""

    label = 'OPC UA simulator'
    thread_name = 'opcua-simulator'
    start_timeout_s = 15.0
    stop_timeout_s = 10.0

    def __init__(self, port: int = 0, namespace_uri: str = NAMESPACE_URI,
                 host: str = '127.0.0.1'):
        super().__init__(port or free_port(), host)
        self.namespace_uri = namespace_uri
        self.namespace_index: Optional[int] = None
        self._server: Optional[Server] = None

    @property
    def endpoint(self) -> str:
        """Return the endpoint URL clients connect to."""
        return f'opc.tcp://{self.host}:{self.port}/acnn_ros/'

    def where(self) -> str:
        """Return the endpoint URL (for messages)."""
        return self.endpoint

    # -- control -----------------------------------------------------------------------------

    def expire_sessions(self) -> int:
        """Close every client session on the server side, keeping the TCP connections."""
        future = asyncio.run_coroutine_threadsafe(self._expire_sessions(), self._loop)
        return future.result(timeout=5.0)

    def freeze(self, seconds: float) -> None:
        """Make the server stop answering for `seconds` (its loop blocks; TCP stays open)."""
        self._loop.call_soon_threadsafe(time.sleep, seconds)

    # -- records -----------------------------------------------------------------------------

    def decisions(self) -> List[ReceivedDecision]:
        """Return the decisions written: each good request that set Vision.PartId."""
        found = []
        for write in self.writes():
            values = write.as_dict()
            if write.good and 'Vision.PartId' in values:
                valid_until = values.get('Vision.ValidUntil')
                if valid_until is not None and valid_until.tzinfo is None:
                    valid_until = valid_until.replace(tzinfo=timezone.utc)
                found.append(ReceivedDecision(
                    write.time, values['Vision.PartId'], values.get('Vision.Verdict'),
                    values.get('Vision.Reason'),
                    None if valid_until is None else write.time <= valid_until.timestamp()))
        return found

    def applied_decisions(self) -> List[ReceivedDecision]:
        """Return the decisions a PLC following the contract applies (stale ones ignored)."""
        return [d for d in self.decisions() if d.valid is not False]

    def heartbeat_toggles(self) -> List[float]:
        """Return the times at which the heartbeat variable changed value."""
        times, last = [], None
        for write in self.writes():
            values = write.as_dict()
            if write.good and 'Vision.Heartbeat' in values:
                if last is not None and values['Vision.Heartbeat'] != last:
                    times.append(write.time)
                last = values['Vision.Heartbeat']
        return times

    # -- server thread -----------------------------------------------------------------------

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name('acnn_ros OPC UA PLC simulator')
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        index = await server.register_namespace(self.namespace_uri)
        self.namespace_index = index
        folder = await server.nodes.objects.add_object(
            ua.NodeId('Vision', index), ua.QualifiedName('Vision', index))
        for name, variant_type, initial in VARIABLES:
            variable = await folder.add_variable(
                ua.NodeId(name, index), ua.QualifiedName(name.split('.')[-1], index),
                ua.Variant(initial, variant_type))
            await variable.set_writable()
        server.subscribe_server_callback(CallbackType.PostWrite, self._record)
        await server.start()
        self._server = server
        try:
            self._ready.set()
            await self._stop.wait()
        finally:
            await server.stop()

    async def _expire_sessions(self) -> int:
        closed = 0
        for protocol in list(self._server.bserver.clients):
            session = protocol.processor.session
            if session is not None:
                await session.close_session()
                closed += 1
        return closed

    def _record(self, event, _dispatcher) -> None:
        if not event.is_external:
            return
        statuses = event.response_params or []
        write = OpcUaWrite(
            time.time(),
            tuple((str(item.NodeId.Identifier), item.Value.Value.Value)
                  for item in event.request_params.NodesToWrite),
            bool(statuses) and all(status.is_good() for status in statuses))
        self._add_write(write)


def main(argv=None) -> int:
    """Run the simulator in the foreground and print every write."""
    parser = argparse.ArgumentParser(description='OPC UA PLC simulator on 127.0.0.1')
    parser.add_argument('--port', type=int, default=4840, help='TCP port (default 4840)')
    parser.add_argument('--namespace', default=NAMESPACE_URI, help='namespace URI')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sim = OpcUaSimulator(args.port, args.namespace)

    def show(write: OpcUaWrite) -> None:
        items = ', '.join(f'{name}={value!r}' for name, value in write.values)
        print(f'{write.time:.3f} {"ok" if write.good else "FAILED"} {items}', flush=True)

    sim.on_write = show
    sim.start()
    print(f'OPC UA simulator listening on {sim.endpoint} (namespace {sim.namespace_uri}, '
          f'index {sim.namespace_index}; Ctrl-C stops)', flush=True)
    sim.serve_until_interrupted()
    return 0


if __name__ == '__main__':
    sys.exit(main())
