using CpsLedger.Api.Accounts;
using Marten.Events.Aggregation;

namespace CpsLedger.Api.Invoicing;

/// <summary>A country's standard VAT rate (a fraction: 0.24 is 24 %) from a date on, until a later entry of that country.</summary>
/// <param name="Country">An EU member state: ISO 3166-1 alpha-2 code (Greece is "GR").</param>
/// <param name="Rate">The standard rate, as a fraction (0.24 is 24 %).</param>
/// <param name="EffectiveFrom">The first day the rate applies.</param>
public sealed record VatRateEntry(string Country, decimal Rate, DateOnly EffectiveFrom);

/// <summary>
/// A version of the VAT rate table was published (the defaults on first start, or finance's change). Every invoice records
/// the version it was decided with: the table stream's version.
/// </summary>
public sealed record VatRatesPublished(IReadOnlyList<VatRateEntry> Rates, string Reason, DateTimeOffset PublishedAt);

/// <summary>EN 16931 VAT category (UNCL 5305): how an invoice's VAT was decided.</summary>
public enum VatCategory
{
    /// <summary>S: the buyer's country's standard rate.</summary>
    Standard,

    /// <summary>AE: a business buyer in another member state accounts for the VAT (Article 196), 0 % on the invoice.</summary>
    ReverseCharge,

    /// <summary>O: a buyer established outside the EU: not subject to EU VAT, 0 % on the invoice.</summary>
    OutsideScope,
}

/// <summary>The VAT decided for one invoice: category, rate, the country whose rate applies, and the legal mention if any.</summary>
/// <param name="Category">The EN 16931 VAT category.</param>
/// <param name="Rate">The VAT rate applied, as a fraction (0.24 is 24 %).</param>
/// <param name="Country">The country whose rule or rate applied: ISO 3166-1 alpha-2 code.</param>
/// <param name="Mention">The legal mention printed on the invoice (e.g. for reverse charge); null when none is needed.</param>
/// <param name="ExemptionReasonCode">The EN 16931 VAT exemption reason code (VATEX) for a 0 % category; null for the standard
/// rate.</param>
public sealed record VatTreatment(VatCategory Category, decimal Rate, string Country, string? Mention, string? ExemptionReasonCode);

public static class VatTableStream
{
    /// <summary>The one VAT table stream (a fixed, name-derived id).</summary>
    public static readonly Guid Id = Platform.DerivedIds.Hashed("cpsledger:vat-rates");

    /// <summary>
    /// The first-start defaults: the EU member states' standard rates as published by the European Commission, with the
    /// changes of 2024 and 2025 (FI 25.5 % from 2024-09-01, SK 23 % from 2025-01-01, EE 24 % from 2025-07-01, RO 21 % from
    /// 2025-08-01). Reference data for finance to check and republish (PUT /api/vat-rates), not tax advice.
    /// </summary>
    public static VatRatesPublished Defaults(DateTimeOffset now)
    {
        var from = new DateOnly(2024, 1, 1);
        List<VatRateEntry> rates =
        [
            new("AT", 0.20m, from), new("BE", 0.21m, from), new("BG", 0.20m, from), new("CY", 0.19m, from), new("CZ", 0.21m, from),
            new("DE", 0.19m, from), new("DK", 0.25m, from), new("EE", 0.22m, from), new("EE", 0.24m, new DateOnly(2025, 7, 1)),
            new("ES", 0.21m, from), new("FI", 0.24m, from), new("FI", 0.255m, new DateOnly(2024, 9, 1)), new("FR", 0.20m, from),
            new("GR", 0.24m, from), new("HR", 0.25m, from), new("HU", 0.27m, from), new("IE", 0.23m, from), new("IT", 0.22m, from),
            new("LT", 0.21m, from), new("LU", 0.17m, from), new("LV", 0.21m, from), new("MT", 0.18m, from), new("NL", 0.21m, from),
            new("PL", 0.23m, from), new("PT", 0.23m, from), new("RO", 0.19m, from), new("RO", 0.21m, new DateOnly(2025, 8, 1)),
            new("SE", 0.25m, from), new("SI", 0.22m, from), new("SK", 0.20m, from), new("SK", 0.23m, new DateOnly(2025, 1, 1)),
        ];
        return new VatRatesPublished(rates, "Standard rates of the EU member states, loaded on first start (check before use)", now);
    }
}

/// <summary>The VAT rate table in force, with its version.</summary>
public sealed class VatRateTable
{
    /// <summary>The VAT table stream's id (there is one).</summary>
    public Guid Id { get; set; }
    /// <summary>The table's version: invoices record the version they used.</summary>
    public long TableVersion { get; set; }
    /// <summary>Every member state's standard rate with the day it applies from.</summary>
    public List<VatRateEntry> Rates { get; set; } = [];
    /// <summary>When this version was published, UTC.</summary>
    public DateTimeOffset PublishedAt { get; set; }
    /// <summary>Why it was published, as finance wrote it.</summary>
    public string Reason { get; set; } = "";

    /// <summary>The country's rate on a day: its latest entry effective on or before it; null when none is.</summary>
    public decimal? RateOn(string country, DateOnly day) => Rates
        .Where(r => r.Country == country && r.EffectiveFrom <= day)
        .OrderByDescending(r => r.EffectiveFrom)
        .Select(r => (decimal?)r.Rate)
        .FirstOrDefault();
}

public sealed partial class VatRateTableProjection : SingleStreamProjection<VatRateTable, Guid>
{
    public static VatRateTable Create(VatRatesPublished e) => Apply(new VatRateTable { Id = VatTableStream.Id }, e);

    // A new object rather than a change to the given one: the publishing endpoint answers with it (see TierTableViewProjection).
    public static VatRateTable Apply(VatRateTable table, VatRatesPublished e) => new()
    {
        Id = table.Id,
        TableVersion = table.TableVersion + 1,
        Rates = [.. e.Rates],
        PublishedAt = e.PublishedAt,
        Reason = e.Reason,
    };
}

/// <summary>
/// Which VAT an invoice carries (EU VAT Directive 2006/112/EC; the programme's decisions in docs/programme.md). The seller
/// is established in an EU member state; the membership is a service supplied to the buyer.
/// </summary>
public static class VatRules
{
    public const string ReverseChargeMention = "Reverse charge: VAT to be accounted for by the recipient, Article 196 of Directive 2006/112/EC";

    public const string OutsideScopeMention =
        "Not subject to EU VAT: services supplied to a customer established outside the European Union (place of supply outside the EU)";

    /// <summary>
    /// Buyer outside the EU: outside the scope of EU VAT, 0 %. Buyer in another member state with a valid VAT ID: reverse
    /// charge, 0 %. Otherwise (same member state as the seller, or no VAT ID): the buyer's country's rate on the tax point date.
    /// </summary>
    /// <param name="buyerVatCountry">The member state of the buyer's VAT ID, or null when the buyer has none.</param>
    public static VatTreatment Decide(string sellerCountry, string buyerCountry, string? buyerVatCountry, VatRateTable table, DateOnly taxPointDate)
    {
        if (!EuMemberStates.Contains(buyerCountry))
            return new VatTreatment(VatCategory.OutsideScope, 0m, buyerCountry, OutsideScopeMention, "VATEX-EU-O");
        if (buyerVatCountry is not null && buyerVatCountry != sellerCountry)
            return new VatTreatment(VatCategory.ReverseCharge, 0m, buyerVatCountry, ReverseChargeMention, "VATEX-EU-AE");
        var rate = table.RateOn(buyerCountry, taxPointDate)
                   ?? throw new InvalidOperationException(
                       $"VAT table version {table.TableVersion} has no rate for {buyerCountry} on {taxPointDate:yyyy-MM-dd}: publish one (PUT /api/vat-rates).");
        return new VatTreatment(VatCategory.Standard, rate, buyerCountry, null, null);
    }

    /// <summary>The UNCL 5305 code of a category, as the e-invoice writes it.</summary>
    public static string Code(VatCategory category) => category switch
    {
        VatCategory.Standard => "S",
        VatCategory.ReverseCharge => "AE",
        _ => "O",
    };
}
