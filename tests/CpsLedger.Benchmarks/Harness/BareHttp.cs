using System.Net;
using System.Security.Claims;
using CpsLedger.Api.Platform;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// The floor under every read of the service: a bare ASP.NET Core app on a loopback port, validating the service's bearer
/// tokens with the service's own token parameters, with nothing else in its pipeline (no request log, no Wolverine, no
/// correlation). <c>GET /me</c> answers from the token alone, as <c>/api/me</c> does; <c>GET /accounts/{id}</c> reads one
/// account's stored view by primary key (one round trip on a pool built like the service's) and returns its JSON as
/// stored. What the second costs more than the first is the least a read that goes to the database once can cost, whatever
/// it reads and however it is written.
/// </summary>
public sealed class BareHttp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly NpgsqlDataSource _dataSource;

    private BareHttp(WebApplication app, NpgsqlDataSource dataSource, Uri baseUrl)
    {
        _app = app;
        _dataSource = dataSource;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    /// <param name="service">The running service: its bearer token parameters are taken as they are.</param>
    public static async Task<BareHttp> StartAsync(IServiceProvider service, string connectionString)
    {
        var tokens = service.GetRequiredService<IOptionsMonitor<JwtBearerOptions>>()
            .Get(JwtBearerDefaults.AuthenticationScheme).TokenValidationParameters.Clone();
        var dataSource = Database.CreateDataSource(connectionString);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(o =>
        {
            o.MapInboundClaims = false;
            o.TokenValidationParameters = tokens;
        });
        builder.Services.AddAuthorization();
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/me", (ClaimsPrincipal user) => new CurrentUser(user.Identity?.Name ?? "",
            [.. LedgerRoles.All.Where(user.IsInRole)], null)).RequireAuthorization();
        var sql = $"select data::text from {BenchApp.Schema}.mt_doc_accountview where id = $1";
        app.MapGet("/accounts/{id:guid}", async (Guid id, HttpContext http) =>
        {
            await using var command = dataSource.CreateCommand(sql);
            command.Parameters.Add(new NpgsqlParameter { Value = id });
            if (await command.ExecuteScalarAsync(http.RequestAborted) is not string json)
                return Results.NotFound();
            return Results.Text(json, "application/json");
        }).RequireAuthorization();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new BareHttp(app, dataSource, new Uri(address));
    }

    public HttpClient SocketClient(int connections) => BenchApp.SocketClient(BaseUrl, connections);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _dataSource.DisposeAsync();
    }
}
