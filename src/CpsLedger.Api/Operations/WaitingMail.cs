using System.Reflection;
using CpsLedger.Api.Platform;
using JasperFx.CommandLine;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;
using Wolverine.Persistence.Durability.ScheduledMessageManagement;
using Wolverine.Runtime;
using Wolverine.Util;

namespace CpsLedger.Api.Operations;

/// <summary>What was brought forward: the e-mail messages that were waiting for a scheduled retry, now due.</summary>
/// <param name="Rescheduled">Messages made due now; the service runs them within a polling interval (2 s).</param>
public sealed record WaitingMailSent(int Rescheduled);

/// <summary>
/// After a mail outage, the e-mails that failed wait for their retry back-off (15 s, then 1, 5, 15, 30 min, 1 h, ...). An operator
/// whose mail server is back can make them due now: each e-mail message waiting in Wolverine's durable inbox for a retry (tried
/// and scheduled again: attempts above zero) is rescheduled to now, and the durability agent runs it. Nothing else changes: a
/// message scheduled for later on purpose (never tried) keeps its time, and an e-mail that was meanwhile sent is not sent again
/// (<see cref="MailDelivery"/>'s record of its Message-Id).
/// </summary>
public static class WaitingMailEndpoint
{
    private const int PageSize = 500;

    // Every handler method, by the message it takes, its class and whether it sends e-mail.
    private static readonly (string Message, Type Handler, bool SendsEmail)[] Handlers = [.. typeof(MailDelivery).Assembly.GetTypes()
        .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
        .Where(m => m.Name is "Handle" or "HandleAsync" && m.GetParameters() is [_, ..])
        .Select(m => (m.GetParameters()[0].ParameterType.ToMessageTypeName(), m.DeclaringType!, MailEnvelope.SendsEmail(m)))];

    /// <summary>The messages whose handlers send an e-mail (they take a <see cref="MailDelivery"/>), as Wolverine names them.</summary>
    public static readonly IReadOnlySet<string> MailMessageTypes = Handlers.Where(h => h.SendsEmail).Select(h => h.Message).ToHashSet();

    /// <summary>Of those, the messages no other handler takes: whatever of them is owed (in the inbox, or a dead letter) is an e-mail.</summary>
    public static readonly IReadOnlySet<string> MailOnlyMessageTypes = Handlers.GroupBy(h => h.Message)
        .Where(g => g.All(h => h.SendsEmail)).Select(g => g.Key).ToHashSet();

    /// <summary>
    /// The queues of the e-mail handlers of a message that another handler takes too (<c>MembershipJoined</c>: the welcome e-mail beside
    /// the invoice's scheduling). Each handler of such a message runs on a local queue of its own (<c>MultipleHandlerBehavior.Separated</c>),
    /// which Wolverine names after the handler's class, and an inbox row or a dead letter records the queue it was received at: owed on
    /// one of these it is an e-mail, owed on the others it is not (the mail check; <c>MailHealthTests</c> holds Wolverine to the names).
    /// </summary>
    public static readonly IReadOnlySet<string> MailQueues = Handlers.GroupBy(h => h.Message)
        .Where(g => g.Any(h => !h.SendsEmail))
        .SelectMany(g => g.Where(h => h.SendsEmail).Select(h => $"local://{h.Handler.FullName!.ToLowerInvariant()}/"))
        .ToHashSet();

    [WolverinePost("/api/operations/mail/send-now", OperationId = "SendWaitingMailNow")]
    [Authorize(Roles = LedgerRoles.Support)]
    [Tags("Operations")]
    [EndpointSummary("Send now the e-mails waiting for a retry (support): after a mail outage, instead of their back-off")]
    [ProducesResponseType<WaitingMailSent>(StatusCodes.Status200OK)]
    public static async Task<WaitingMailSent> Post(IWolverineRuntime runtime, CancellationToken ct) => new(await SendNowAsync(runtime, ct));

    /// <summary>Makes every e-mail message waiting for a retry due now (the endpoint and <c>mail-send-now</c>); how many.</summary>
    public static Task<int> SendNowAsync(IWolverineRuntime runtime, CancellationToken ct) =>
        // The machine's clock, not the service's TimeProvider: Wolverine's durability agent fires scheduled messages by it.
        SendNowAsync(runtime.Storage.ScheduledMessages, DateTimeOffset.UtcNow, ct);

    public static async Task<int> SendNowAsync(IScheduledMessages scheduled, DateTimeOffset now, CancellationToken ct)
    {
        // Read first, then move: a moved message leaves the pages read by number.
        var waiting = new List<Guid>();
        foreach (var messageType in MailMessageTypes)
        {
            for (var page = 1; ; page++)
            {
                var results = await scheduled.QueryAsync(
                    new ScheduledMessageQuery { MessageType = messageType, PageNumber = page, PageSize = PageSize }, ct);
                waiting.AddRange(results.Messages.Where(m => m.Attempts > 0 && m.ScheduledTime > now).Select(m => m.Id));
                if (results.Messages.Count < PageSize)
                    break;
            }
        }

        foreach (var id in waiting)
            await scheduled.RescheduleAsync(id, now, ct);
        return waiting.Count;
    }
}

[Description("Sends now the e-mails waiting for a retry (after a mail outage), as POST /api/operations/mail/send-now does; " +
             "the running service sends them", Name = "mail-send-now")]
public sealed class WaitingMailCommand : JasperFxAsyncCommand<LedgerInput>
{
    public override async Task<bool> Execute(LedgerInput input)
    {
        // The output is this command's answer, for a person or a script.
        var output = Console.Out;
        using var host = await input.BuildLedgerHostAsync();
        var rescheduled = await WaitingMailEndpoint.SendNowAsync(host.Services.GetRequiredService<IWolverineRuntime>(), CancellationToken.None);
        await output.WriteLineAsync($"{rescheduled} e-mail message(s) waiting for a retry made due now: the running service sends them " +
                                    "within its polling interval (Wolverine:ScheduledJobPollingTime, 2 s). Then watch the mail check in /health/ready.");
        return true;
    }
}
