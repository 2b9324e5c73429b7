namespace CpsLedger.Api.Platform;

/// <summary>
/// The test seams, one of each per host: singletons of its container, which the service's code is given, and which a test sets
/// through that host's services. Not static: the tests run two hosts in one process at a time, and a seam one host's test set
/// fired for the other host's work (a charge presented on the second host passed the first's step). Nothing in production sets
/// them; unset, each does nothing.
/// </summary>
public static class TestSeams
{
    public static void AddTestSeams(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<Invoicing.ChargeCardTestSeam>();
        builder.Services.AddSingleton<Invoicing.InvoiceIssueTestSeam>();
        builder.Services.AddSingleton<Invoicing.OverdueTestSeam>();
        builder.Services.AddSingleton<MailDeliveryTestSeam>();
        builder.Services.AddSingleton<Membership.InvitationReviewTestSeam>();
        builder.Services.AddSingleton<Migration.MigrationTestSeam>();
    }
}
