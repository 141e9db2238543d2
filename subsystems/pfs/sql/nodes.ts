import { defineQuery } from '../../../core/query.js';

/** Processing nodes by name (pfs_node_name_uq): the Node Monitor's rows after the coordinators and pools. */
export const listNodes = defineQuery('pfs.listNodes', {}, (knex) =>
  knex('pfs_node').select('id', 'name', 'executor', 'host', 'state', 'cores', 'memory_mb', 'heartbeat', 'detail', 'enabled').orderBy('name'),
);
