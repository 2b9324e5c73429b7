using JasperFx.Events.Projections;
using Marten;
using Microsoft.Extensions.Options;

namespace CpsLedger.Api.Invoicing;

public sealed class InvoicingOptions
{
    public const string Section = "Invoicing";

    /// <summary>How long after joining the invoice is issued ("within a few hours").</summary>
    public TimeSpan IssueDelay { get; set; } = TimeSpan.FromHours(2);

    /// <summary>Days from issue to due date.</summary>
    public int PaymentTermDays { get; set; } = 30;

    /// <summary>Card charge attempts in all (the first on the due date), and the time between two of them.</summary>
    public int CardChargeAttempts { get; set; } = 3;

    public TimeSpan CardRetryInterval { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// How long a card charge waits for the payment gateway's answer before it gives up (outcome unknown: retried with the same
    /// idempotency key). The charge holds the membership's lock meanwhile, so it is kept shorter than the database's command timeout
    /// that a write waiting for that lock runs under.
    /// </summary>
    public TimeSpan GatewayTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>What a write waiting for the charge's lock has left of its command timeout at least, after the gateway's.</summary>
    public static readonly TimeSpan LockWaitMargin = TimeSpan.FromSeconds(5);

    /// <summary>Npgsql's command timeout in the connection string (30 s unless it says otherwise); null when it is off (0).</summary>
    public static TimeSpan? CommandTimeoutOf(string? connectionString)
    {
        var seconds = new Npgsql.NpgsqlConnectionStringBuilder(connectionString ?? "").CommandTimeout;
        return seconds > 0 ? TimeSpan.FromSeconds(seconds) : null;
    }

    /// <summary>How long an invoice may be overdue before the membership is suspended.</summary>
    public TimeSpan SuspensionGracePeriod { get; set; } = TimeSpan.FromDays(14);

    /// <summary>
    /// Bank-transfer surcharge per ISO country code, then per ISO 4217 currency code: <c>"IT": { "EUR": 2.00 }</c>. An invoice in a
    /// currency carries the amount stated for that currency; countries not listed have none. A country listed needs an amount in every
    /// currency a tier table is priced in (the publication of a table in another currency is refused).
    /// </summary>
    public Dictionary<string, Dictionary<string, decimal>> BankTransferSurcharges { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The surcharge of a bank-transfer invoice in <paramref name="currency"/> to a buyer in <paramref name="country"/>: null when the
    /// country has none. A country with a surcharge but no amount in that currency has no answer: inventing one (or none) would be
    /// written into the invoice for good, so the invoice is not issued and the failure names the setting to add.
    /// </summary>
    public decimal? BankTransferSurcharge(string country, string currency)
    {
        if (!BankTransferSurcharges.TryGetValue(country, out var amounts) || amounts.Count == 0)
            return null;
        return amounts.TryGetValue(currency, out var amount) ? amount : throw new MissingSurchargeException(country, currency);
    }

    /// <summary>The countries with a bank-transfer surcharge that has no amount in <paramref name="currency"/>, in code order.</summary>
    public IReadOnlyList<string> CountriesWithoutSurchargeIn(string currency) =>
        BankTransferSurcharges.Where(c => c.Value.Count > 0 && !c.Value.ContainsKey(currency)).Select(c => c.Key.ToUpperInvariant())
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>The setting that holds a country's surcharge in a currency.</summary>
    public static string SettingFor(string country, string currency) => $"{Section}:{nameof(BankTransferSurcharges)}:{country.ToUpperInvariant()}:{currency}";
}

/// <summary>
/// An invoice in a currency the buyer's country has no bank-transfer surcharge in: the start check
/// (<see cref="Tiers.TierTableDefaults.SurchargeGap"/>) keeps it from happening on a node whose settings lack the amount, so only a node
/// started with other settings than the one that let the currency in meets it. Nothing is written, and retrying cannot help: the settings
/// are read once, at start. An HTTP request answers 503 naming the setting; a message is a dead letter at once, naming it.
/// </summary>
public sealed class MissingSurchargeException(string country, string currency) : InvalidOperationException(
    $"{country.ToUpperInvariant()} has a bank-transfer surcharge, but none in {currency}: add {InvoicingOptions.SettingFor(country, currency)} to the " +
    "settings and restart the service. The invoice is not issued without it.")
{
    /// <summary>The setting to add.</summary>
    public string Setting { get; } = InvoicingOptions.SettingFor(country, currency);
}

/// <summary>
/// The shape of <see cref="InvoicingOptions.BankTransferSurcharges"/>, checked at start: an amount per stated currency, never a bare amount
/// (the shape before currencies were stated, which a tier table in another currency turned into an amount nobody configured).
/// </summary>
public sealed class BankTransferSurchargeValidation(IConfiguration configuration) : IValidateOptions<InvoicingOptions>
{
    public ValidateOptionsResult Validate(string? name, InvoicingOptions options)
    {
        var failures = new List<string>();
        var section = configuration.GetSection($"{InvoicingOptions.Section}:{nameof(InvoicingOptions.BankTransferSurcharges)}");
        foreach (var country in section.GetChildren().Where(c => !string.IsNullOrEmpty(c.Value)))
            failures.Add($"{country.Path} is a bare amount ({country.Value}), in no stated currency: write it under the ISO 4217 code " +
                         $"of its currency, e.g. \"{country.Key}\": {{ \"EUR\": {country.Value} }} ({country.Path}:EUR), with an amount for " +
                         "every currency a tier table is priced in.");
        foreach (var (country, amounts) in options.BankTransferSurcharges)
            foreach (var (currency, amount) in amounts)
            {
                if (!Tiers.PublishTierTableValidator.IsCurrency(currency))
                    failures.Add($"{section.Path}:{country}:{currency}: \"{currency}\" is not an ISO 4217 code in upper case, e.g. \"EUR\".");
                else if (amount < 0)
                    failures.Add($"{section.Path}:{country}:{currency} must not be negative.");
            }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

public static class InvoicingSetup
{
    /// <summary>Marten parts of invoicing.</summary>
    public static void AddInvoicing(this StoreOptions opts)
    {
        // Inline: the invoice is read by number and by account right after every payment or charge.
        opts.Projections.Snapshot<Invoice>(SnapshotLifecycle.Inline);
        opts.Schema.For<Invoice>().Duplicate(x => x.AccountId).Duplicate(x => x.InvoiceNumber);
        opts.AddInvoiceListColumns();
        opts.Schema.For<InvoiceNumberClaim>().Duplicate(x => x.AccountId);
        opts.Schema.For<InvoiceNumberCounter>();
        opts.Projections.Snapshot<PaymentCard>(SnapshotLifecycle.Inline);
        // Inline: the next invoice after a publication uses the new rates.
        opts.Projections.Add<VatRateTableProjection>(ProjectionLifecycle.Inline);
        opts.Schema.For<CreditNoteNumberClaim>().Duplicate(x => x.AccountId);
        opts.Schema.For<CreditNoteNumberCounter>();
        // A card presented for an attempt not recorded yet: what a charge finding its invoice settled asks the gateway about.
        opts.Schema.For<PresentedCharge>();
    }

    /// <summary>Options and services of invoicing.</summary>
    public static void AddInvoicing(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<InvoicingOptions>()
            .Bind(builder.Configuration.GetSection(InvoicingOptions.Section))
            .Validate(o => o.IssueDelay >= TimeSpan.Zero, "Invoicing:IssueDelay must not be negative.")
            .Validate(o => o.PaymentTermDays is >= 0 and <= 365, "Invoicing:PaymentTermDays must be between 0 and 365.")
            .Validate(o => o.CardChargeAttempts is >= 1 and <= 10, "Invoicing:CardChargeAttempts must be between 1 and 10.")
            .Validate(o => o.CardRetryInterval > TimeSpan.Zero, "Invoicing:CardRetryInterval must be positive.")
            .Validate(o => o.GatewayTimeout > TimeSpan.Zero, "Invoicing:GatewayTimeout must be positive.")
            .Validate<IConfiguration>((o, configuration) =>
                    InvoicingOptions.CommandTimeoutOf(configuration.GetConnectionString(Platform.Database.ConnectionStringName)) is not { } command
                    || o.GatewayTimeout <= command - InvoicingOptions.LockWaitMargin,
                $"Invoicing:GatewayTimeout must be at least {InvoicingOptions.LockWaitMargin.TotalSeconds:0} s shorter than the database's command " +
                "timeout (Command Timeout in ConnectionStrings:Marten, 30 s by default): a card charge holds the membership's lock while it " +
                "waits for the gateway, and a write waiting for that lock would fail on its own command timeout instead of getting it.")
            .Validate(o => o.SuspensionGracePeriod >= TimeSpan.Zero, "Invoicing:SuspensionGracePeriod must not be negative.")
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<InvoicingOptions>, BankTransferSurchargeValidation>();
        builder.Services.AddSeller(builder.Configuration);
        builder.Services.AddHostedService<VatRateDefaultsLoader>();
        // Offline VAT ID checks (format and check digits); a VIES adapter would replace this registration.
        builder.Services.AddSingleton<Accounts.IVatIdCheck, Accounts.OfflineVatIdCheck>();
        // The sandbox is the only adapter shipped: a real provider's adapter implements IPaymentGateway and replaces it here.
        builder.Services.AddSingleton<SandboxPaymentGateway>();
        builder.Services.AddSingleton<IPaymentGateway>(sp => sp.GetRequiredService<SandboxPaymentGateway>());
    }
}
