using Marten;
using Npgsql;

namespace CpsLedger.Tests.Harness;

/// <summary>What the planner would do with a query Marten built, for tests that an index serves it.</summary>
public static class QueryPlans
{
    /// <summary>
    /// The <c>explain</c> lines of <paramref name="query"/> with sequential scans priced out: could the planner use an index at all? A test
    /// table holds too few rows for the planner to prefer an index on its own.
    /// </summary>
    public static Task<IReadOnlyList<string>> WithoutSequentialScansAsync(IDocumentStore store, NpgsqlCommand query) =>
        PlanAsync(store, query, "enable_seqscan");

    /// <summary>
    /// The <c>explain</c> lines of <paramref name="query"/> with sequential scans, bitmap scans and sorts priced out: could an index give
    /// its rows in the query's order? With those left in, the planner may sort a small test table's rows from any index (it did, after
    /// other tests' statistics), whatever the large table's plan would be.
    /// </summary>
    public static Task<IReadOnlyList<string>> InIndexOrderAsync(IDocumentStore store, NpgsqlCommand query) =>
        PlanAsync(store, query, "enable_seqscan", "enable_bitmapscan", "enable_sort");

    /// <summary>
    /// The <c>explain</c> lines of <paramref name="query"/> on <paramref name="table"/> vacuumed first (its pages marked all-visible, as
    /// autovacuum leaves a large table's), with sequential and bitmap scans priced out: can an index alone serve it (an index-only scan,
    /// no row read), or must an index scan read the rows? On a table never vacuumed an index-only scan costs what an index scan does.
    /// (PostgreSQL considers index-only scans only while plain ones are allowed, so those cannot be priced out.)
    /// </summary>
    public static async Task<IReadOnlyList<string>> FromAnIndexAloneAsync(IDocumentStore store, NpgsqlCommand query, string table)
    {
        await using (var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection())
        {
            await connection.OpenAsync();
            await using var vacuum = new NpgsqlCommand($"vacuum (analyze) {table}", connection);
            await vacuum.ExecuteNonQueryAsync();
        }
        return await PlanAsync(store, query, "enable_seqscan", "enable_bitmapscan");
    }

    private static async Task<IReadOnlyList<string>> PlanAsync(IDocumentStore store, NpgsqlCommand query, params string[] pricedOut)
    {
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        foreach (var setting in pricedOut)
        {
            await using var off = new NpgsqlCommand($"set local {setting} = off", connection, transaction);
            await off.ExecuteNonQueryAsync();
        }

        await using var explain = new NpgsqlCommand("explain " + query.CommandText, connection, transaction);
        foreach (NpgsqlParameter parameter in query.Parameters)
            explain.Parameters.Add(parameter.Clone());
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
                plan.Add(reader.GetString(0));
        }

        return plan;
    }
}
