// The project's tests pick ports with the same helper the local runtime uses (and poll with lib/poll.ts).
export { freePort } from '../../cluster/local/network/net-util.ts';
