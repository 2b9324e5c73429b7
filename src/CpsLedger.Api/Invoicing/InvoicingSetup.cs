using JasperFx.Events.Projections;
using Marten;

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

    /// <summary>Bank-transfer surcharge per ISO country code, an amount in the invoice currency; countries not listed have none.</summary>
    public Dictionary<string, decimal> BankTransferSurcharges { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

public static class InvoicingSetup
{
    /// <summary>Marten parts of invoicing.</summary>
    public static void AddInvoicing(this StoreOptions opts)
    {
        // Inline: the invoice is read by number and by account right after every payment or charge.
        opts.Projections.Snapshot<Invoice>(SnapshotLifecycle.Inline);
        opts.Schema.For<Invoice>().Duplicate(x => x.AccountId).Duplicate(x => x.InvoiceNumber);
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
            .Validate(o => o.BankTransferSurcharges.Values.All(s => s >= 0), "Invoicing:BankTransferSurcharges must not be negative.")
            .ValidateOnStart();
        builder.Services.AddSeller(builder.Configuration);
        builder.Services.AddHostedService<VatRateDefaultsLoader>();
        // Offline VAT ID checks (format and check digits); a VIES adapter would replace this registration.
        builder.Services.AddSingleton<Accounts.IVatIdCheck, Accounts.OfflineVatIdCheck>();
        // The sandbox is the only adapter shipped: a real provider's adapter implements IPaymentGateway and replaces it here.
        builder.Services.AddSingleton<SandboxPaymentGateway>();
        builder.Services.AddSingleton<IPaymentGateway>(sp => sp.GetRequiredService<SandboxPaymentGateway>());
    }
}
