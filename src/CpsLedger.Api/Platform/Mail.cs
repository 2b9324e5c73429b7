using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace CpsLedger.Api.Platform;

public sealed class MailOptions
{
    public const string Section = "Mail";

    /// <summary>Sender of every e-mail, e.g. "CPS Europe &lt;cps@example.com&gt;".</summary>
    public string From { get; set; } = "Canon Professional Services <cps@cpsledger.example>";

    /// <summary>SMTP server. When empty, e-mails are written as .eml files to <see cref="PickupDirectory"/>.</summary>
    public string? SmtpHost { get; set; }

    public int SmtpPort { get; set; } = 587;

    /// <summary>Auto (STARTTLS when offered), StartTls, SslOnConnect or None.</summary>
    public SecureSocketOptions SmtpSecurity { get; set; } = SecureSocketOptions.Auto;

    public string? SmtpUserName { get; set; }
    public string? SmtpPassword { get; set; }

    /// <summary>Folder for .eml files when no SMTP server is configured (Development default: .local/mail in the checkout).</summary>
    public string? PickupDirectory { get; set; }
}

/// <summary>
/// Delivers e-mails with MailKit: to the SMTP server when one is configured, otherwise as .eml files in the pickup folder.
/// Callers run inside durable Wolverine handlers, so a failed delivery is retried; a retry after a delivery whose
/// acknowledgement was lost resends the same Message-Id (an .eml file is overwritten, mail clients de-duplicate).
/// </summary>
public sealed class MailDelivery(IOptions<MailOptions> options, ILogger<MailDelivery> logger)
{
    public async Task SendAsync(MimeMessage message, CancellationToken ct)
    {
        var o = options.Value;
        if (message.From.Count == 0)
            message.From.Add(MailboxAddress.Parse(o.From));
        // Callers set a Message-Id derived from what the e-mail is about, so a resend is recognisable as the same e-mail.
        if (string.IsNullOrEmpty(message.MessageId))
            message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId();

        if (!string.IsNullOrWhiteSpace(o.SmtpHost))
        {
            using var smtp = new SmtpClient();
            await smtp.ConnectAsync(o.SmtpHost, o.SmtpPort, o.SmtpSecurity, ct);
            if (!string.IsNullOrEmpty(o.SmtpUserName))
                await smtp.AuthenticateAsync(o.SmtpUserName, o.SmtpPassword ?? "", ct);
            await smtp.SendAsync(message, ct);
            await smtp.DisconnectAsync(quit: true, ct);
            logger.LogInformation("E-mail {MessageId} \"{Subject}\" sent to {To} via {SmtpHost}", message.MessageId, message.Subject,
                message.To.ToString(), o.SmtpHost);
            return;
        }

        var folder = o.PickupDirectory ?? throw new InvalidOperationException("Mail: set Mail:SmtpHost or Mail:PickupDirectory.");
        Directory.CreateDirectory(folder);
        var file = Path.Combine(folder, $"{FileSafe(message.MessageId!)}.eml");
        var temporary = file + ".tmp";
        await message.WriteToAsync(temporary, ct);
        File.Move(temporary, file, overwrite: true);
        logger.LogInformation("E-mail {MessageId} \"{Subject}\" to {To} written to {File}", message.MessageId, message.Subject,
            message.To.ToString(), file);
    }

    private static string FileSafe(string messageId) =>
        string.Concat(messageId.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' or '_' ? c : '_'));
}

public static class Mail
{
    public static void AddLedgerMail(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MailOptions>()
            .Bind(builder.Configuration.GetSection(MailOptions.Section))
            .PostConfigure(o =>
            {
                if (string.IsNullOrWhiteSpace(o.SmtpHost) && string.IsNullOrWhiteSpace(o.PickupDirectory) && builder.Environment.IsDevelopment())
                    o.PickupDirectory = Path.Combine(Database.FindRepositoryRoot(builder.Environment.ContentRootPath), ".local", "mail");
            })
            .Validate(o => !string.IsNullOrWhiteSpace(o.SmtpHost) || !string.IsNullOrWhiteSpace(o.PickupDirectory),
                "Mail: set Mail:SmtpHost (an SMTP server) or Mail:PickupDirectory (a folder for .eml files).")
            .Validate(o => MailboxAddress.TryParse(o.From, out _), "Mail:From must be an e-mail address, e.g. \"CPS <cps@example.com>\".")
            .ValidateOnStart();
        builder.Services.AddSingleton<MailDelivery>();
    }
}
