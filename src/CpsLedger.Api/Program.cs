using CpsLedger.Api.Audit;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Operations;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using CpsLedger.Api.WebConsole;
using JasperFx;

var builder = WebApplication.CreateBuilder(args);

// The local address unless one is configured (Urls, ASPNETCORE_URLS, --urls): a default in appsettings.json would win over
// ASPNETCORE_URLS, the variable most people set first.
if (string.IsNullOrWhiteSpace(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
    builder.WebHost.UseUrls("http://127.0.0.1:5080");

builder.AddLedgerLogging();
await builder.AddLedgerDatabaseAsync(args);
builder.AddLedgerStore();
builder.AddLedgerMail();
builder.AddAudit();
builder.Services.AddHostedService<TierTableDefaultsLoader>();
builder.AddCatalogue();
builder.AddInvoicing();
builder.AddMembershipYear();
builder.AddReconciliation();
builder.AddMigration();
builder.AddOldEmailVerification();
builder.AddLedgerAuth();
builder.AddLedgerConsole();
builder.AddLedgerHttp();
builder.AddLedgerTelemetry();

var app = builder.Build();

app.UseLedgerPipeline();
app.MapLedgerEndpoints();
app.MapLedgerConsole();

// Serving (no arguments) starts the host directly. JasperFx's command line is for the commands (db-apply, codegen,
// projections, legacy-import, ...) and the run command's own flags; on every start it scans seven assemblies for commands
// and prints a plain-text line for each ahead of the JSON log, which log shippers read one JSON object per line.
if (args.Length == 0)
{
    await app.RunAsync();
    return 0;
}

return await app.RunJasperFxCommands(args);

// Public so that WebApplicationFactory<Program> in the tests can find it.
public partial class Program;
