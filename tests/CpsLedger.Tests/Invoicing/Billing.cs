using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Marten;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Wolverine.Runtime;

namespace CpsLedger.Tests.Invoicing;

/// <summary>Test steps for invoicing: an account that joined, the clock moved forward with the scheduled work it makes due.</summary>
public static class Billing
{
    public const string Thousand = "M-1000";
    public const string TestSchema = "cpsledger_tests";

    public static async Task ListThousandPointModel(IDocumentStore store)
    {
        await using var session = store.LightweightSession();
        var id = ProductModelCode.StreamIdFor(Thousand);
        session.Events.StartStream<ProductModelView>(id, new ProductModelListed(id, Thousand, "Model 1000", "cinema_camera", 1000, DateTimeOffset.UtcNow));
        await session.SaveChangesAsync();
    }

    /// <summary>An account in <paramref name="country"/> with 1000 points that joined Gold (EUR 200) paying by <paramref name="method"/>.</summary>
    public static async Task<Guid> JoinedAccount(this LedgerApp app, string country, string method, string? cardToken = null,
        string email = "studio@example.ee", object? billingDetails = null) =>
        await JoinedAccount(app, app.CreateClient(), app.Services, country, method, cardToken, email, billingDetails);

    /// <param name="billingDetails">A body for PUT .../billing-details, set before joining (so the invoice carries it).</param>
    public static async Task<Guid> JoinedAccount(LedgerApp app, HttpClient client, IServiceProvider services, string country, string method,
        string? cardToken = null, string email = "studio@example.ee", object? billingDetails = null)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(LedgerRoles.Portal));
        var opened = await (await client.PostJson("/api/accounts", Accounts.Accounts.Opening(email, country: country))).ShouldBe(HttpStatusCode.Created);
        var account = opened.GetProperty("value").GetGuid();

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(LedgerRoles.Member, account));
        await (await client.PostJson($"/api/accounts/{account}/products", Products.Products.Complete($"S-{email.Replace("@", "-")}", Thousand))).ShouldBe(HttpStatusCode.Created);
        await Quiesce(services);
        if (cardToken is not null)
            await (await client.PostJson($"/api/accounts/{account}/payment-card", new { cardToken })).ShouldBe(HttpStatusCode.OK);
        if (billingDetails is not null)
            await (await client.PutJson($"/api/accounts/{account}/billing-details", billingDetails)).ShouldBe(HttpStatusCode.OK);
        await (await client.PostJson($"/api/accounts/{account}/membership", new { tier = "gold", paymentMethod = method })).ShouldBe(HttpStatusCode.Created);
        await Quiesce(services);
        return account;
    }

    /// <summary>
    /// Moves the service's clock forward and makes every scheduled message due now in PostgreSQL (Wolverine fires them by
    /// wall-clock time); each handler checks its due time against the moved clock and schedules itself again if early.
    /// </summary>
    public static Task FastForward(this LedgerApp app, TimeSpan by) => FastForward(app, app.ConnectionString, TestSchema, app.Services, by);

    public static async Task FastForward(LedgerApp app, string connectionString, string schema, IServiceProvider services, TimeSpan by)
    {
        app.Clock.Advance(by);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var due = new NpgsqlCommand(
                         $"update {schema}.wolverine_incoming_envelopes set execution_time = now() - interval '1 second' where status = 'Scheduled'",
                         connection))
            await due.ExecuteNonQueryAsync();

        // The durability agent polls for due scheduled messages every few seconds.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await ScheduledDue(connection, schema) > 0)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("Scheduled messages did not run.");
            await Task.Delay(100);
        }

        await Quiesce(services);
    }

    public static async Task<long> Scheduled(string connectionString, string schema)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand($"select count(*) from {schema}.wolverine_incoming_envelopes where status = 'Scheduled'", connection);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    private static async Task<long> ScheduledDue(NpgsqlConnection connection, string schema)
    {
        await using var count = new NpgsqlCommand(
            $"select count(*) from {schema}.wolverine_incoming_envelopes where status = 'Scheduled' and execution_time <= now()", connection);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    /// <summary>Every durable message handled, on any host of the service.</summary>
    public static Task Quiesce(IServiceProvider services) => LedgerAppMessaging.WaitForMessages(services, TimeSpan.FromSeconds(30));

    public static async Task<JsonElement> Invoices(this HttpClient client, Guid account) =>
        await (await client.GetAsync($"/api/accounts/{account}/invoices")).ShouldBe(HttpStatusCode.OK);

    public static async Task<JsonElement> SingleInvoice(this HttpClient client, Guid account)
    {
        var invoices = await client.Invoices(account);
        Assert.Equal(1, invoices.GetArrayLength());
        return invoices[0];
    }

    public static object BankPayment(string invoiceNumber, decimal amount, string bankReference, string currency = "EUR") =>
        new { invoiceNumber, amount, currency, valueDate = DateOnly.FromDateTime(DateTime.UtcNow).ToString("yyyy-MM-dd"), bankReference };

    public static HttpClient Client(this WebApplicationFactory<Program> factory, LedgerApp app, string role, Guid? account = null)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(role, account));
        return client;
    }
}
