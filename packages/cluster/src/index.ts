/**
 * @capstan/cluster: Capstan batches spread over several runner processes on effect's cluster and PostgreSQL.
 *
 * @since 0.3.0
 */
export * as ClusterBatch from "./ClusterBatch.js"
export * as PostgresCluster from "./PostgresCluster.js"
export * as RowStore from "./RowStore.js"
export * as SharedBudget from "./SharedBudget.js"
