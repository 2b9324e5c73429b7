using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Weasel.Postgresql;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// The pool Marten and Wolverine share resets a returned connection's session (settings, advisory locks, temporary tables)
/// without <c>DISCARD ALL</c>, so the server keeps its cached plans (Database.CreateDataSource).
/// </summary>
public sealed class ConnectionPoolTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task marten_and_wolverine_use_the_ledgers_pool_whose_connections_hold_a_prepared_statement()
    {
        var pool = App.Services.GetRequiredService<NpgsqlDataSource>();
        Assert.Same(pool, ((PostgresqlDatabase)App.Store.Storage.Database).DataSource);
        await using var connection = await pool.OpenConnectionAsync();
        Assert.True(await ScalarAsync<long>(connection, "select count(*) from pg_prepared_statements") >= 1);
    }

    [Fact]
    public async Task a_connection_back_from_the_pool_has_its_session_reset_but_keeps_the_servers_plans()
    {
        // A pool of one connection, built as the ledger's is, so that the second checkout is the first one's connection.
        await using var pool = Database.CreateDataSource(new NpgsqlConnectionStringBuilder(App.ConnectionString) { MaxPoolSize = 1 }.ConnectionString);
        int backend;
        await using (var connection = await pool.OpenConnectionAsync())
        {
            backend = await ScalarAsync<int>(connection, "select pg_backend_pid()");
            await ScalarAsync<object>(connection, "set cpsledger.hash_chain = 'per-statement'");
            await ScalarAsync<object>(connection, "select pg_advisory_lock(424242)");
            await ScalarAsync<object>(connection, "create temporary table pool_reset_probe (x int)");
        }

        await using var reused = await pool.OpenConnectionAsync();
        Assert.Equal(backend, await ScalarAsync<int>(reused, "select pg_backend_pid()"));
        Assert.NotEqual("per-statement", await ScalarAsync<string?>(reused, "select current_setting('cpsledger.hash_chain', true)"));
        Assert.Equal(0L, await ScalarAsync<long>(reused,
            "select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid() and objid = 424242"));
        Assert.Null(await ScalarAsync<object?>(reused, "select to_regclass('pg_temp.pool_reset_probe')::text"));
        // DISCARD ALL would have deallocated every prepared statement along with the plans.
        Assert.True(await ScalarAsync<long>(reused, "select count(*) from pg_prepared_statements") >= 1);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is DBNull or null ? default! : (T)value;
    }
}
