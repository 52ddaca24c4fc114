// The project's tests poll and pick ports with the same helpers the local runtime uses.
export { freePort, pollUntil as waitFor } from '../../cluster/local/network/net-util.ts';
