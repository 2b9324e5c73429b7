using CpsLedger.Api.Platform;
using JasperFx;

var builder = WebApplication.CreateBuilder(args);

builder.AddLedgerLogging();
await builder.AddLedgerDatabaseAsync(args);
builder.AddLedgerStore();
builder.AddLedgerAuth();
builder.AddLedgerHttp();
builder.AddLedgerTelemetry();

var app = builder.Build();

app.UseLedgerPipeline();
app.MapLedgerEndpoints();

return await app.RunJasperFxCommands(args);

// Public so that WebApplicationFactory<Program> in the tests can find it.
public partial class Program;
