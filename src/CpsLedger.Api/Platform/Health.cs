using Marten;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace CpsLedger.Api.Platform;

public static class Health
{
    public static void MapLedgerHealth(this WebApplication app)
    {
        // Live: the process answers. Ready: it can also reach the event store and Wolverine's message store.
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains("ready"),
            ResponseWriter = WriteJson,
        }).AllowAnonymous();
    }

    private static Task WriteJson(HttpContext context, HealthReport report) =>
        context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString(),
                description = e.Value.Description,
                durationMs = Math.Round(e.Value.Duration.TotalMilliseconds, 1),
                // Figures a monitor can read without parsing the description (the mail check's count and age).
                data = e.Value.Data.Count == 0 ? null : e.Value.Data,
            }),
        });
}

public sealed class DatabaseHealthCheck(IDocumentStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var session = store.QuerySession();
            await session.QueryAsync<int>("select 1", cancellationToken);
            return HealthCheckResult.Healthy("PostgreSQL answers");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("PostgreSQL does not answer", e);
        }
    }
}

/// <summary>
/// Wolverine's message store answers: one statement on its inbox table. Wolverine's own connectivity check
/// (<c>IMessageStoreAdmin.CheckConnectivityAsync</c>) said the store answered, in about a millisecond, while PostgreSQL was
/// stopped (an operator's drill, 2026-12-03).
/// </summary>
public sealed class MessageStoreHealthCheck(NpgsqlDataSource dataSource, IConfiguration configuration) : IHealthCheck
{
    private readonly string _inbox = $"\"{(configuration["Ledger:SchemaName"] ?? "cpsledger").Replace("\"", "\"\"", StringComparison.Ordinal)}\".wolverine_incoming_envelopes";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand($"select 1 from {_inbox} limit 1");
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy("Wolverine message store answers");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("Wolverine message store does not answer", e);
        }
    }
}
