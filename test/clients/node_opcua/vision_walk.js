// SPDX-License-Identifier: Apache-2.0
//
// The vision system server driven by node-opcua-client, an independent OPC UA implementation
// (test/test_vision_system_node_opcua.py runs it). Usage:
//   node vision_walk.js ENDPOINT PARTS FIRST_RECIPE SECOND_RECIPE
// Browses the VisionSystem object, walks Preoperational -> SelectModeAutomatic -> PrepareRecipe
// -> StartContinuous, prints "WAITING FOR PARTS" and collects PARTS ResultReadyEvents (on the
// Server object), then Stop, PrepareRecipe of the second recipe, Halt, Reset; the last line is
// "RESULT <json>" with what it saw. Exit status 0 once the walk ran (the test judges it).
'use strict';
const {
  OPCUAClient, AttributeIds, BrowseDirection, ClientMonitoredItem, constructEventFilter,
  DataType, resolveNodeId, TimestampsToReturn, Variant,
} = require('node-opcua-client');

const MACHINE_VISION = 'http://opcfoundation.org/UA/MachineVision';
const [endpoint, partsText, firstRecipe, secondRecipe] = process.argv.slice(2);
const parts = Number(partsText);

function waitFor(condition, timeoutMs) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out after ${timeoutMs} ms`));
      }
    }, 20);
  });
}

async function main() {
  const client = OPCUAClient.create({
    endpointMustExist: false, connectionStrategy: { maxRetry: 20, initialDelay: 250 },
  });
  await client.connect(endpoint);
  const session = await client.createSession();
  const result = { browse: [], states: [], calls: {}, events: [], transitions: [] };
  try {
    const ns = (await session.readNamespaceArray()).indexOf(MACHINE_VISION);
    const id = (path) => `ns=${ns};s=VisionSystem${path}`;
    const browsed = await session.browse({
      nodeId: id(''), browseDirection: BrowseDirection.Forward, resultMask: 63,
    });
    result.browse = browsed.references.map((r) => r.browseName.name).sort();
    result.typeDefinition = browsed.references.length
      ? (await session.browse({ nodeId: id(''), referenceTypeId: 'HasTypeDefinition' }))
        .references[0].nodeId.toString().replace(`ns=${ns};`, 'ns=MV;')
      : '';

    async function states() {
      const values = await session.read([
        { nodeId: id('.VisionStateMachine.CurrentState'), attributeId: AttributeIds.Value },
        { nodeId: id('.VisionStateMachine.AutomaticModeStateMachine.CurrentState'),
          attributeId: AttributeIds.Value },
      ]);
      result.states.push(values.map((v) => v.value.value.text || ''));
    }
    async function structure(number, pojo) {
      const value = await session.constructExtensionObject(
        resolveNodeId(`ns=${ns};i=${number}`), pojo);
      return new Variant({ dataType: DataType.ExtensionObject, value });
    }
    async function call(objectPath, method, inputArguments = []) {
      const answer = await session.call({
        objectId: id(objectPath), methodId: id(`${objectPath}.${method}`), inputArguments,
      });
      const outputs = (answer.outputArguments || []).map((v) => v.value);
      (result.calls[method] = result.calls[method] || []).push({
        status: answer.statusCode.name,
        outputs: outputs.map((o) => (o && typeof o === 'object' && 'id' in o ? o.id : o)),
      });
      return outputs;
    }
    const cause = [new Variant({ dataType: DataType.Int32, value: 0 }),
      new Variant({ dataType: DataType.LocalizedText, value: { text: '' } })];
    const recipe = (name) => structure(3002, { id: name });
    const noRecipe = () => structure(3013, { id: '' });

    const subscription = await session.createSubscription2({
      requestedPublishingInterval: 50, requestedMaxKeepAliveCount: 20,
      requestedLifetimeCount: 6000, maxNotificationsPerPublish: 1000, publishingEnabled: true,
    });
    const resultFields = ['EventType', `${ns}:ResultId`, `${ns}:PartId`, `${ns}:JobId`,
      `${ns}:ResultState`, `${ns}:InternalRecipeId`];
    const resultItem = ClientMonitoredItem.create(subscription,
      { nodeId: 'i=2253', attributeId: AttributeIds.EventNotifier },
      { queueSize: 10000, discardOldest: false, filter: constructEventFilter(resultFields) },
      TimestampsToReturn.Neither);
    resultItem.on('changed', (fields) => {
      if (fields[0].value.toString() !== `ns=${ns};i=1024`) return;
      result.events.push({
        resultId: fields[1].value.id, partId: fields[2].value.id, jobId: fields[3].value.id,
        resultState: fields[4].value, recipeId: fields[5].value.id,
      });
    });
    const transitionItem = ClientMonitoredItem.create(subscription,
      { nodeId: id(''), attributeId: AttributeIds.EventNotifier },
      { queueSize: 1000, filter: constructEventFilter(['EventType', 'Transition']) },
      TimestampsToReturn.Neither);
    transitionItem.on('changed', (fields) => {
      if (['i=2311', 'ns=0;i=2311'].includes(fields[0].value.toString())) {
        result.transitions.push(fields[1].value.text);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 500));   // the items are created

    await states();
    await call('.VisionStateMachine', 'SelectModeAutomatic');
    await states();
    await call('.RecipeManagement', 'PrepareRecipe', [await recipe(firstRecipe), await noRecipe()]);
    await states();
    const start = [await structure(3015, { id: 'm1' }), await structure(3004, { id: '' }),
      await recipe(''), await structure(3003, { id: '' }),
      new Variant({ dataType: DataType.Variant, arrayType: 1, value: [] })];
    await call('.VisionStateMachine.AutomaticModeStateMachine', 'StartContinuous', start);
    await states();
    console.log('WAITING FOR PARTS');
    await waitFor(() => result.events.length >= parts, 30000);
    await new Promise((resolve) => setTimeout(resolve, 500));   // and none more
    await call('.VisionStateMachine.AutomaticModeStateMachine', 'Stop', cause);
    await states();
    await call('.RecipeManagement', 'PrepareRecipe', [await recipe(secondRecipe),
      await noRecipe()]);
    await states();
    await call('.VisionStateMachine', 'Halt', cause);
    await states();
    await call('.VisionStateMachine', 'Reset', cause);
    await states();
    await waitFor(() => result.transitions.length >= 7, 5000).catch(() => undefined);
    await subscription.terminate();
  } finally {
    console.log(`RESULT ${JSON.stringify(result)}`);
    await session.close();
    await client.disconnect();
  }
}

main().catch((error) => {
  console.log(`FAILED ${error.stack || error}`);
  process.exit(1);
});
