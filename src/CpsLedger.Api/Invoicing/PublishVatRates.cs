using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Invoicing;

/// <summary>Publish a new version of the VAT rate table (finance). Invoices issued from now on use it and record its version.</summary>
/// <param name="Rates">Every EU member state's standard rate with the date it applies from; a country may have several entries (a change ahead).</param>
/// <param name="Reason">Why the table changes, for the audit trail.</param>
public sealed record PublishVatRates(IReadOnlyList<VatRateEntry> Rates, string Reason);

public sealed class PublishVatRatesValidator : AbstractValidator<PublishVatRates>
{
    public PublishVatRatesValidator(TimeProvider clock)
    {
        RuleFor(x => x.Reason).ValidReason();
        RuleFor(x => x.Rates).NotEmpty().WithMessage("Give at least one rate.");
        RuleForEach(x => x.Rates).ChildRules(rate =>
        {
            rate.RuleFor(r => r.Country).Must(EuMemberStates.Contains)
                .WithMessage("Country must be an EU member state's ISO code in upper case, e.g. \"EE\" (GR for Greece).");
            rate.RuleFor(r => r.Rate).InclusiveBetween(0m, 0.5m).PrecisionScale(5, 4, ignoreTrailingZeros: true)
                .WithMessage("Rate is a fraction between 0 and 0.5 with at most 4 decimals (0.255 for 25.5 %).");
            // A missing date is the request gate's; 0001-01-01 is a date given (in force until the entry after it), as a bank date's is.
        });
        RuleFor(x => x.Rates)
            .Must(rates => rates.GroupBy(r => (r.Country, r.EffectiveFrom)).All(g => g.Count() == 1))
            .WithMessage("A country has at most one rate per effective date.")
            .Must(rates => EuMemberStates.Names.Keys.All(country =>
                rates.Any(r => r.Country == country && r.EffectiveFrom <= DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime))))
            .WithMessage(x => "Every EU member state needs a rate in force today; missing: " + string.Join(", ",
                EuMemberStates.Names.Keys.Where(country => !x.Rates.Any(r => r.Country == country
                                                                                && r.EffectiveFrom <= DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime)))) + ".")
            .When(x => x.Rates is { Count: > 0 });
    }
}

public static class VatRateDefaults
{
    /// <summary>Loads the default rates when no VAT table exists yet (first start). Safe to run on every start and node.</summary>
    public static Task EnsureAsync(IDocumentStore store, TimeProvider clock, CancellationToken ct = default) =>
        Platform.ReferenceData.StartOnceAsync<VatRateTable>(store, VatTableStream.Id, "vat-rate-defaults", () => VatTableStream.Defaults(clock.GetUtcNow()), ct);
}

/// <summary>Loads the default VAT rates on first start.</summary>
public sealed class VatRateDefaultsLoader(IDocumentStore store, TimeProvider clock) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => VatRateDefaults.EnsureAsync(store, clock, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class VatRateEndpoints
{
    /// <summary>The decision: a new version only when the rates change, so a repeated publication is a no-op.</summary>
    public static VatRatesPublished? Decide(VatRateTable? current, PublishVatRates command, DateTimeOffset now)
    {
        var rates = command.Rates.OrderBy(r => r.Country, StringComparer.Ordinal).ThenBy(r => r.EffectiveFrom).ToList();
        if (current is not null && current.Rates.OrderBy(r => r.Country, StringComparer.Ordinal).ThenBy(r => r.EffectiveFrom).SequenceEqual(rates))
            return null;
        return new VatRatesPublished(rates, command.Reason.Trim(), now);
    }

    [WolverineGet("/api/vat-rates", OperationId = "GetVatRates")]
    [Authorize]
    [EndpointSummary("The VAT rate table in force (each EU member state's standard rates with their effective dates) and its version")]
    [ProducesResponseType<VatRateTable>(StatusCodes.Status200OK)]
    public static async Task<IResult> Get(IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<VatRateTable>(VatTableStream.Id, ct) is { } table
            ? Results.Ok(table)
            : Results.Problem(Problems.NotFound("No VAT table", "The VAT rate table has not been loaded yet."));

    public static Guid VatTableStreamId() => VatTableStream.Id;

    [WolverinePut("/api/vat-rates", OperationId = "PublishVatRates")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("Publish a new version of the VAT rate table (finance); invoices issued afterwards use it")]
    [RequestExample("""{"reason":"Standard rates in force from 2025-08-01","rates":[{"country":"AT","rate":0.20,"effectiveFrom":"2025-08-01"},{"country":"BE","rate":0.21,"effectiveFrom":"2025-08-01"},{"country":"BG","rate":0.20,"effectiveFrom":"2025-08-01"},{"country":"CY","rate":0.19,"effectiveFrom":"2025-08-01"},{"country":"CZ","rate":0.21,"effectiveFrom":"2025-08-01"},{"country":"DE","rate":0.19,"effectiveFrom":"2025-08-01"},{"country":"DK","rate":0.25,"effectiveFrom":"2025-08-01"},{"country":"EE","rate":0.24,"effectiveFrom":"2025-08-01"},{"country":"ES","rate":0.21,"effectiveFrom":"2025-08-01"},{"country":"FI","rate":0.255,"effectiveFrom":"2025-08-01"},{"country":"FR","rate":0.20,"effectiveFrom":"2025-08-01"},{"country":"GR","rate":0.24,"effectiveFrom":"2025-08-01"},{"country":"HR","rate":0.25,"effectiveFrom":"2025-08-01"},{"country":"HU","rate":0.27,"effectiveFrom":"2025-08-01"},{"country":"IE","rate":0.23,"effectiveFrom":"2025-08-01"},{"country":"IT","rate":0.22,"effectiveFrom":"2025-08-01"},{"country":"LT","rate":0.21,"effectiveFrom":"2025-08-01"},{"country":"LU","rate":0.17,"effectiveFrom":"2025-08-01"},{"country":"LV","rate":0.21,"effectiveFrom":"2025-08-01"},{"country":"MT","rate":0.18,"effectiveFrom":"2025-08-01"},{"country":"NL","rate":0.21,"effectiveFrom":"2025-08-01"},{"country":"PL","rate":0.23,"effectiveFrom":"2025-08-01"},{"country":"PT","rate":0.23,"effectiveFrom":"2025-08-01"},{"country":"RO","rate":0.21,"effectiveFrom":"2025-08-01"},{"country":"SE","rate":0.25,"effectiveFrom":"2025-08-01"},{"country":"SI","rate":0.22,"effectiveFrom":"2025-08-01"},{"country":"SK","rate":0.23,"effectiveFrom":"2025-08-01"}]}""")]
    public static (VatRateTable, Events) Put(PublishVatRates command,
        [WriteAggregate(FromMethod = nameof(VatTableStreamId), Required = false)] VatRateTable? current, TimeProvider clock)
    {
        var published = Decide(current, command, clock.GetUtcNow());
        if (published is null)
            return (current!, []);
        return (current is null ? VatRateTableProjection.Create(published) : VatRateTableProjection.Apply(current, published), [published]);
    }
}
