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
builder.AddOldEmailVerification();
builder.AddLedgerAuth();
builder.AddLedgerConsole();
builder.AddLedgerHttp();
builder.AddLedgerTelemetry();

var app = builder.Build();

app.UseLedgerPipeline();
app.MapLedgerEndpoints();
app.MapLedgerConsole();

return await app.RunJasperFxCommands(args);

// Public so that WebApplicationFactory<Program> in the tests can find it.
public partial class Program;
