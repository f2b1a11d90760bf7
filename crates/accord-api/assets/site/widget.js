/*! Accord widget: consent banner, floating button, placeholders for blocked embeds and the
 * privacy center. It draws inside shadow roots, sets no cookies, calls only the Accord server
 * through window.concord, creates no globals (it registers itself as window.concord.widget)
 * and needs no 'unsafe-eval' nor 'unsafe-inline' (styles are constructed stylesheets and
 * CSSOM properties). Strings: the Region's language.translations, then the built-in strings
 * below, then English. */
(function () {
  'use strict';
  var w = window, d = document, C = w.concord;
  if (!C || C.widget) return;

  // ------------------------------------------------------------------------------------
  // Strings. Keys are the ones a Region's language.translations may override.
  var EN = {
    'banner.title': 'We value your privacy',
    'banner.description': 'We use cookies and similar technologies to run this site, measure how it is used and personalise content and ads. Choose what you allow; you can change your mind at any time.',
    'banner.accept': 'Accept all',
    'banner.deny': 'Deny all',
    'banner.customize': 'Customise',
    'banner.close': 'Close',
    'banner.policy': 'Privacy policy',
    'banner.google': 'How Google uses data',
    'gpc.note': 'Your browser sends a Global Privacy Control signal. We honour it: your data is not sold or shared for advertising.',
    'fab.label': 'Privacy settings',
    'center.title': 'Privacy center',
    'center.close': 'Close privacy center',
    'tab.choices': 'Your choices',
    'tab.history': 'History',
    'tab.requests': 'Requests',
    'choices.intro': 'Choose which categories of cookies and similar technologies this site may use.',
    'choices.save': 'Save choices',
    'choices.saved': 'Your choices have been saved.',
    'choices.alwaysOn': 'Always on',
    'category.strictly_necessary': 'Strictly necessary',
    'category.strictly_necessary.description': 'Needed for the site to work, for example to keep it secure and remember your choices.',
    'category.analytics': 'Analytics',
    'category.analytics.description': 'Helps us understand how the site is used so that we can improve it.',
    'category.advertising': 'Advertising',
    'category.advertising.description': 'Used to show you relevant ads and measure them, here and on other sites.',
    'category.personalization': 'Personalisation',
    'category.personalization.description': 'Remembers your preferences and adapts content to you.',
    'dns.title': 'Do Not Sell or Share My Personal Information',
    'dns.description': 'You can opt out of the sale or sharing of your personal information for advertising.',
    'dns.button': 'Opt out of sale and sharing',
    'dns.done': 'You have opted out of the sale and sharing of your personal information.',
    'dns.request': 'Send a formal opt-out request',
    'history.empty': 'No consent recorded yet.',
    'history.type': 'Category',
    'history.state': 'Choice',
    'history.date': 'Date',
    'state.accepted': 'Accepted',
    'state.declined': 'Declined',
    'state.implied': 'Implied',
    'state.viewed': 'Viewed',
    'requests.intro': 'Ask us for a copy of your data, to correct it or to delete it. We will send a code to your email address to confirm the request.',
    'requests.mine': 'Your requests',
    'requests.new': 'New request',
    'request.type': 'Type of request',
    'request.view': 'Access my data',
    'request.change': 'Correct my data',
    'request.delete': 'Delete my data',
    'request.do_not_sell': 'Do not sell or share my data',
    'request.email': 'Email address',
    'request.firstName': 'First name',
    'request.lastName': 'Last name',
    'request.details': 'Details (optional)',
    'request.submit': 'Send request',
    'request.sent': 'We sent a 6-digit code to {email}. Enter it to confirm your request.',
    'request.code': 'Verification code',
    'request.verify': 'Confirm',
    'request.verified': 'Your request is confirmed.',
    'request.download': 'Download {file}',
    'request.date': 'Sent on {date}',
    'status.pending_verification': 'Awaiting confirmation',
    'status.submitted': 'Received',
    'status.acknowledged': 'In progress',
    'status.resolved': 'Completed',
    'error.generic': 'Something went wrong. Please try again.',
    'placeholder.text': 'This content is blocked because {category} is not allowed.',
    'placeholder.allow': 'Allow {category}',
    'powered': 'Powered by Accord'
  };
  var L = {
    fr: {
      'banner.title': 'Vos données, vos choix',
      'banner.description': 'Nous utilisons des cookies et technologies similaires pour faire fonctionner ce site, mesurer son utilisation et personnaliser contenus et publicités. Choisissez ce que vous autorisez ; vous pouvez changer d’avis à tout moment.',
      'banner.accept': 'Tout accepter',
      'banner.deny': 'Tout refuser',
      'banner.customize': 'Personnaliser',
      'banner.close': 'Fermer',
      'banner.policy': 'Politique de confidentialité',
      'banner.google': 'Comment Google utilise les données',
      'gpc.note': 'Votre navigateur envoie un signal Global Privacy Control. Nous le respectons : vos données ne sont ni vendues ni partagées à des fins publicitaires.',
      'fab.label': 'Paramètres de confidentialité',
      'center.title': 'Centre de confidentialité',
      'center.close': 'Fermer le centre de confidentialité',
      'tab.choices': 'Vos choix',
      'tab.history': 'Historique',
      'tab.requests': 'Demandes',
      'choices.intro': 'Choisissez les catégories de cookies et technologies similaires que ce site peut utiliser.',
      'choices.save': 'Enregistrer mes choix',
      'choices.saved': 'Vos choix ont été enregistrés.',
      'choices.alwaysOn': 'Toujours actif',
      'category.strictly_necessary': 'Strictement nécessaires',
      'category.strictly_necessary.description': 'Indispensables au fonctionnement du site, par exemple pour sa sécurité et pour retenir vos choix.',
      'category.analytics': 'Mesure d’audience',
      'category.analytics.description': 'Nous aide à comprendre l’utilisation du site pour l’améliorer.',
      'category.advertising': 'Publicité',
      'category.advertising.description': 'Sert à afficher des publicités pertinentes et à les mesurer, ici et sur d’autres sites.',
      'category.personalization': 'Personnalisation',
      'category.personalization.description': 'Retient vos préférences et adapte le contenu.',
      'dns.title': 'Ne pas vendre ni partager mes informations personnelles',
      'dns.description': 'Vous pouvez refuser la vente ou le partage de vos informations personnelles à des fins publicitaires.',
      'dns.button': 'Refuser la vente et le partage',
      'dns.done': 'Vous avez refusé la vente et le partage de vos informations personnelles.',
      'dns.request': 'Envoyer une demande formelle',
      'history.empty': 'Aucun consentement enregistré.',
      'history.type': 'Catégorie',
      'history.state': 'Choix',
      'history.date': 'Date',
      'state.accepted': 'Accepté',
      'state.declined': 'Refusé',
      'state.implied': 'Implicite',
      'state.viewed': 'Consulté',
      'requests.intro': 'Demandez une copie de vos données, leur correction ou leur suppression. Nous enverrons un code à votre adresse e-mail pour confirmer la demande.',
      'requests.mine': 'Vos demandes',
      'requests.new': 'Nouvelle demande',
      'request.type': 'Type de demande',
      'request.view': 'Accéder à mes données',
      'request.change': 'Corriger mes données',
      'request.delete': 'Supprimer mes données',
      'request.do_not_sell': 'Ne pas vendre ni partager mes données',
      'request.email': 'Adresse e-mail',
      'request.firstName': 'Prénom',
      'request.lastName': 'Nom',
      'request.details': 'Précisions (facultatif)',
      'request.submit': 'Envoyer la demande',
      'request.sent': 'Nous avons envoyé un code à 6 chiffres à {email}. Saisissez-le pour confirmer votre demande.',
      'request.code': 'Code de vérification',
      'request.verify': 'Confirmer',
      'request.verified': 'Votre demande est confirmée.',
      'request.download': 'Télécharger {file}',
      'request.date': 'Envoyée le {date}',
      'status.pending_verification': 'En attente de confirmation',
      'status.submitted': 'Reçue',
      'status.acknowledged': 'En cours',
      'status.resolved': 'Traitée',
      'error.generic': 'Une erreur s’est produite. Veuillez réessayer.',
      'placeholder.text': 'Ce contenu est bloqué car la catégorie {category} n’est pas autorisée.',
      'placeholder.allow': 'Autoriser {category}',
      'powered': 'Propulsé par Accord'
    },
    de: {
      'banner.title': 'Ihre Privatsphäre ist uns wichtig',
      'banner.description': 'Wir verwenden Cookies und ähnliche Technologien, um diese Website zu betreiben, ihre Nutzung zu messen und Inhalte sowie Werbung zu personalisieren. Wählen Sie, was Sie erlauben; Sie können Ihre Wahl jederzeit ändern.',
      'banner.accept': 'Alle akzeptieren',
      'banner.deny': 'Alle ablehnen',
      'banner.customize': 'Anpassen',
      'banner.close': 'Schließen',
      'banner.policy': 'Datenschutzerklärung',
      'banner.google': 'Wie Google Daten verwendet',
      'gpc.note': 'Ihr Browser sendet ein Global-Privacy-Control-Signal. Wir beachten es: Ihre Daten werden nicht für Werbung verkauft oder weitergegeben.',
      'fab.label': 'Datenschutzeinstellungen',
      'center.title': 'Datenschutzcenter',
      'center.close': 'Datenschutzcenter schließen',
      'tab.choices': 'Ihre Auswahl',
      'tab.history': 'Verlauf',
      'tab.requests': 'Anfragen',
      'choices.intro': 'Wählen Sie, welche Kategorien von Cookies und ähnlichen Technologien diese Website verwenden darf.',
      'choices.save': 'Auswahl speichern',
      'choices.saved': 'Ihre Auswahl wurde gespeichert.',
      'choices.alwaysOn': 'Immer aktiv',
      'category.strictly_necessary': 'Unbedingt erforderlich',
      'category.strictly_necessary.description': 'Für den Betrieb der Website nötig, etwa für die Sicherheit und um Ihre Auswahl zu speichern.',
      'category.analytics': 'Statistik',
      'category.analytics.description': 'Hilft uns zu verstehen, wie die Website genutzt wird, um sie zu verbessern.',
      'category.advertising': 'Werbung',
      'category.advertising.description': 'Dient dazu, relevante Werbung hier und auf anderen Websites zu zeigen und zu messen.',
      'category.personalization': 'Personalisierung',
      'category.personalization.description': 'Merkt sich Ihre Vorlieben und passt Inhalte an.',
      'dns.title': 'Meine personenbezogenen Daten nicht verkaufen oder weitergeben',
      'dns.description': 'Sie können dem Verkauf oder der Weitergabe Ihrer personenbezogenen Daten für Werbung widersprechen.',
      'dns.button': 'Verkauf und Weitergabe widersprechen',
      'dns.done': 'Sie haben dem Verkauf und der Weitergabe Ihrer personenbezogenen Daten widersprochen.',
      'dns.request': 'Förmlichen Widerspruch senden',
      'history.empty': 'Noch keine Einwilligung erfasst.',
      'history.type': 'Kategorie',
      'history.state': 'Auswahl',
      'history.date': 'Datum',
      'state.accepted': 'Akzeptiert',
      'state.declined': 'Abgelehnt',
      'state.implied': 'Stillschweigend',
      'state.viewed': 'Angesehen',
      'requests.intro': 'Fordern Sie eine Kopie Ihrer Daten, deren Berichtigung oder Löschung an. Wir senden einen Code an Ihre E-Mail-Adresse, um die Anfrage zu bestätigen.',
      'requests.mine': 'Ihre Anfragen',
      'requests.new': 'Neue Anfrage',
      'request.type': 'Art der Anfrage',
      'request.view': 'Auskunft über meine Daten',
      'request.change': 'Meine Daten berichtigen',
      'request.delete': 'Meine Daten löschen',
      'request.do_not_sell': 'Meine Daten nicht verkaufen oder weitergeben',
      'request.email': 'E-Mail-Adresse',
      'request.firstName': 'Vorname',
      'request.lastName': 'Nachname',
      'request.details': 'Details (optional)',
      'request.submit': 'Anfrage senden',
      'request.sent': 'Wir haben einen 6-stelligen Code an {email} gesendet. Geben Sie ihn ein, um Ihre Anfrage zu bestätigen.',
      'request.code': 'Bestätigungscode',
      'request.verify': 'Bestätigen',
      'request.verified': 'Ihre Anfrage ist bestätigt.',
      'request.download': '{file} herunterladen',
      'request.date': 'Gesendet am {date}',
      'status.pending_verification': 'Wartet auf Bestätigung',
      'status.submitted': 'Eingegangen',
      'status.acknowledged': 'In Bearbeitung',
      'status.resolved': 'Erledigt',
      'error.generic': 'Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.',
      'placeholder.text': 'Dieser Inhalt ist blockiert, weil {category} nicht erlaubt ist.',
      'placeholder.allow': '{category} erlauben',
      'powered': 'Bereitgestellt von Accord'
    },
    es: {
      'banner.title': 'Valoramos su privacidad',
      'banner.description': 'Usamos cookies y tecnologías similares para que este sitio funcione, medir su uso y personalizar contenidos y anuncios. Elija qué permite; puede cambiar de opinión en cualquier momento.',
      'banner.accept': 'Aceptar todo',
      'banner.deny': 'Rechazar todo',
      'banner.customize': 'Personalizar',
      'banner.close': 'Cerrar',
      'banner.policy': 'Política de privacidad',
      'banner.google': 'Cómo usa Google los datos',
      'gpc.note': 'Su navegador envía una señal Global Privacy Control. La respetamos: sus datos no se venden ni se comparten con fines publicitarios.',
      'fab.label': 'Configuración de privacidad',
      'center.title': 'Centro de privacidad',
      'center.close': 'Cerrar el centro de privacidad',
      'tab.choices': 'Sus preferencias',
      'tab.history': 'Historial',
      'tab.requests': 'Solicitudes',
      'choices.intro': 'Elija qué categorías de cookies y tecnologías similares puede usar este sitio.',
      'choices.save': 'Guardar preferencias',
      'choices.saved': 'Sus preferencias se han guardado.',
      'choices.alwaysOn': 'Siempre activo',
      'category.strictly_necessary': 'Estrictamente necesarias',
      'category.strictly_necessary.description': 'Necesarias para que el sitio funcione, por ejemplo para su seguridad y para recordar sus preferencias.',
      'category.analytics': 'Analítica',
      'category.analytics.description': 'Nos ayuda a entender cómo se usa el sitio para mejorarlo.',
      'category.advertising': 'Publicidad',
      'category.advertising.description': 'Sirve para mostrar anuncios relevantes y medirlos, aquí y en otros sitios.',
      'category.personalization': 'Personalización',
      'category.personalization.description': 'Recuerda sus preferencias y adapta el contenido.',
      'dns.title': 'No vender ni compartir mi información personal',
      'dns.description': 'Puede oponerse a la venta o el intercambio de su información personal con fines publicitarios.',
      'dns.button': 'Oponerme a la venta y el intercambio',
      'dns.done': 'Se ha opuesto a la venta y el intercambio de su información personal.',
      'dns.request': 'Enviar una solicitud formal',
      'history.empty': 'Aún no hay consentimientos registrados.',
      'history.type': 'Categoría',
      'history.state': 'Elección',
      'history.date': 'Fecha',
      'state.accepted': 'Aceptado',
      'state.declined': 'Rechazado',
      'state.implied': 'Implícito',
      'state.viewed': 'Visto',
      'requests.intro': 'Pídanos una copia de sus datos, su corrección o su eliminación. Enviaremos un código a su correo electrónico para confirmar la solicitud.',
      'requests.mine': 'Sus solicitudes',
      'requests.new': 'Nueva solicitud',
      'request.type': 'Tipo de solicitud',
      'request.view': 'Acceder a mis datos',
      'request.change': 'Corregir mis datos',
      'request.delete': 'Eliminar mis datos',
      'request.do_not_sell': 'No vender ni compartir mis datos',
      'request.email': 'Correo electrónico',
      'request.firstName': 'Nombre',
      'request.lastName': 'Apellidos',
      'request.details': 'Detalles (opcional)',
      'request.submit': 'Enviar solicitud',
      'request.sent': 'Hemos enviado un código de 6 dígitos a {email}. Introdúzcalo para confirmar su solicitud.',
      'request.code': 'Código de verificación',
      'request.verify': 'Confirmar',
      'request.verified': 'Su solicitud está confirmada.',
      'request.download': 'Descargar {file}',
      'request.date': 'Enviada el {date}',
      'status.pending_verification': 'Pendiente de confirmación',
      'status.submitted': 'Recibida',
      'status.acknowledged': 'En curso',
      'status.resolved': 'Completada',
      'error.generic': 'Algo ha fallado. Inténtelo de nuevo.',
      'placeholder.text': 'Este contenido está bloqueado porque {category} no está permitido.',
      'placeholder.allow': 'Permitir {category}',
      'powered': 'Con tecnología de Accord'
    },
    it: {
      'banner.title': 'La tua privacy è importante',
      'banner.description': 'Usiamo cookie e tecnologie simili per far funzionare questo sito, misurarne l’uso e personalizzare contenuti e annunci. Scegli cosa consentire; puoi cambiare idea in qualsiasi momento.',
      'banner.accept': 'Accetta tutto',
      'banner.deny': 'Rifiuta tutto',
      'banner.customize': 'Personalizza',
      'banner.close': 'Chiudi',
      'banner.policy': 'Informativa sulla privacy',
      'banner.google': 'Come Google utilizza i dati',
      'gpc.note': 'Il tuo browser invia un segnale Global Privacy Control. Lo rispettiamo: i tuoi dati non vengono venduti né condivisi a fini pubblicitari.',
      'fab.label': 'Impostazioni privacy',
      'center.title': 'Centro privacy',
      'center.close': 'Chiudi il centro privacy',
      'tab.choices': 'Le tue scelte',
      'tab.history': 'Cronologia',
      'tab.requests': 'Richieste',
      'choices.intro': 'Scegli quali categorie di cookie e tecnologie simili questo sito può usare.',
      'choices.save': 'Salva le scelte',
      'choices.saved': 'Le tue scelte sono state salvate.',
      'choices.alwaysOn': 'Sempre attivi',
      'category.strictly_necessary': 'Strettamente necessari',
      'category.strictly_necessary.description': 'Necessari al funzionamento del sito, ad esempio per la sicurezza e per ricordare le tue scelte.',
      'category.analytics': 'Statistiche',
      'category.analytics.description': 'Ci aiutano a capire come viene usato il sito per migliorarlo.',
      'category.advertising': 'Pubblicità',
      'category.advertising.description': 'Servono a mostrare annunci pertinenti e a misurarli, qui e su altri siti.',
      'category.personalization': 'Personalizzazione',
      'category.personalization.description': 'Ricorda le tue preferenze e adatta i contenuti.',
      'dns.title': 'Non vendere né condividere le mie informazioni personali',
      'dns.description': 'Puoi opporti alla vendita o alla condivisione delle tue informazioni personali a fini pubblicitari.',
      'dns.button': 'Opponiti alla vendita e condivisione',
      'dns.done': 'Ti sei opposto alla vendita e alla condivisione delle tue informazioni personali.',
      'dns.request': 'Invia una richiesta formale',
      'history.empty': 'Nessun consenso registrato.',
      'history.type': 'Categoria',
      'history.state': 'Scelta',
      'history.date': 'Data',
      'state.accepted': 'Accettato',
      'state.declined': 'Rifiutato',
      'state.implied': 'Implicito',
      'state.viewed': 'Visualizzato',
      'requests.intro': 'Chiedici una copia dei tuoi dati, la loro rettifica o cancellazione. Invieremo un codice al tuo indirizzo email per confermare la richiesta.',
      'requests.mine': 'Le tue richieste',
      'requests.new': 'Nuova richiesta',
      'request.type': 'Tipo di richiesta',
      'request.view': 'Accedere ai miei dati',
      'request.change': 'Rettificare i miei dati',
      'request.delete': 'Cancellare i miei dati',
      'request.do_not_sell': 'Non vendere né condividere i miei dati',
      'request.email': 'Indirizzo email',
      'request.firstName': 'Nome',
      'request.lastName': 'Cognome',
      'request.details': 'Dettagli (facoltativo)',
      'request.submit': 'Invia richiesta',
      'request.sent': 'Abbiamo inviato un codice di 6 cifre a {email}. Inseriscilo per confermare la richiesta.',
      'request.code': 'Codice di verifica',
      'request.verify': 'Conferma',
      'request.verified': 'La tua richiesta è confermata.',
      'request.download': 'Scarica {file}',
      'request.date': 'Inviata il {date}',
      'status.pending_verification': 'In attesa di conferma',
      'status.submitted': 'Ricevuta',
      'status.acknowledged': 'In lavorazione',
      'status.resolved': 'Completata',
      'error.generic': 'Si è verificato un errore. Riprova.',
      'placeholder.text': 'Questo contenuto è bloccato perché {category} non è consentito.',
      'placeholder.allow': 'Consenti {category}',
      'powered': 'Realizzato con Accord'
    },
    nl: {
      'banner.title': 'Wij respecteren uw privacy',
      'banner.description': 'Wij gebruiken cookies en vergelijkbare technieken om deze site te laten werken, het gebruik te meten en inhoud en advertenties te personaliseren. Kies wat u toestaat; u kunt uw keuze altijd wijzigen.',
      'banner.accept': 'Alles accepteren',
      'banner.deny': 'Alles weigeren',
      'banner.customize': 'Aanpassen',
      'banner.close': 'Sluiten',
      'banner.policy': 'Privacybeleid',
      'banner.google': 'Hoe Google gegevens gebruikt',
      'gpc.note': 'Uw browser stuurt een Global Privacy Control-signaal. Wij respecteren het: uw gegevens worden niet verkocht of gedeeld voor advertenties.',
      'fab.label': 'Privacyinstellingen',
      'center.title': 'Privacycentrum',
      'center.close': 'Privacycentrum sluiten',
      'tab.choices': 'Uw keuzes',
      'tab.history': 'Geschiedenis',
      'tab.requests': 'Verzoeken',
      'choices.intro': 'Kies welke categorieën cookies en vergelijkbare technieken deze site mag gebruiken.',
      'choices.save': 'Keuzes opslaan',
      'choices.saved': 'Uw keuzes zijn opgeslagen.',
      'choices.alwaysOn': 'Altijd actief',
      'category.strictly_necessary': 'Strikt noodzakelijk',
      'category.strictly_necessary.description': 'Nodig om de site te laten werken, bijvoorbeeld voor de beveiliging en om uw keuzes te onthouden.',
      'category.analytics': 'Statistieken',
      'category.analytics.description': 'Helpt ons begrijpen hoe de site wordt gebruikt, zodat we hem kunnen verbeteren.',
      'category.advertising': 'Advertenties',
      'category.advertising.description': 'Wordt gebruikt om relevante advertenties te tonen en te meten, hier en op andere sites.',
      'category.personalization': 'Personalisatie',
      'category.personalization.description': 'Onthoudt uw voorkeuren en past de inhoud aan.',
      'dns.title': 'Mijn persoonsgegevens niet verkopen of delen',
      'dns.description': 'U kunt bezwaar maken tegen de verkoop of het delen van uw persoonsgegevens voor advertenties.',
      'dns.button': 'Bezwaar maken tegen verkoop en delen',
      'dns.done': 'U heeft bezwaar gemaakt tegen de verkoop en het delen van uw persoonsgegevens.',
      'dns.request': 'Een formeel verzoek sturen',
      'history.empty': 'Nog geen toestemming vastgelegd.',
      'history.type': 'Categorie',
      'history.state': 'Keuze',
      'history.date': 'Datum',
      'state.accepted': 'Geaccepteerd',
      'state.declined': 'Geweigerd',
      'state.implied': 'Impliciet',
      'state.viewed': 'Bekeken',
      'requests.intro': 'Vraag om een kopie van uw gegevens, om correctie of om verwijdering. We sturen een code naar uw e-mailadres om het verzoek te bevestigen.',
      'requests.mine': 'Uw verzoeken',
      'requests.new': 'Nieuw verzoek',
      'request.type': 'Soort verzoek',
      'request.view': 'Mijn gegevens inzien',
      'request.change': 'Mijn gegevens corrigeren',
      'request.delete': 'Mijn gegevens verwijderen',
      'request.do_not_sell': 'Mijn gegevens niet verkopen of delen',
      'request.email': 'E-mailadres',
      'request.firstName': 'Voornaam',
      'request.lastName': 'Achternaam',
      'request.details': 'Toelichting (optioneel)',
      'request.submit': 'Verzoek versturen',
      'request.sent': 'We hebben een 6-cijferige code naar {email} gestuurd. Voer hem in om uw verzoek te bevestigen.',
      'request.code': 'Verificatiecode',
      'request.verify': 'Bevestigen',
      'request.verified': 'Uw verzoek is bevestigd.',
      'request.download': '{file} downloaden',
      'request.date': 'Verstuurd op {date}',
      'status.pending_verification': 'Wacht op bevestiging',
      'status.submitted': 'Ontvangen',
      'status.acknowledged': 'In behandeling',
      'status.resolved': 'Afgehandeld',
      'error.generic': 'Er ging iets mis. Probeer het opnieuw.',
      'placeholder.text': 'Deze inhoud is geblokkeerd omdat {category} niet is toegestaan.',
      'placeholder.allow': '{category} toestaan',
      'powered': 'Mogelijk gemaakt door Accord'
    },
    pt: {
      'banner.title': 'Valorizamos a sua privacidade',
      'banner.description': 'Usamos cookies e tecnologias semelhantes para fazer este site funcionar, medir a sua utilização e personalizar conteúdos e anúncios. Escolha o que permite; pode mudar de ideias a qualquer momento.',
      'banner.accept': 'Aceitar tudo',
      'banner.deny': 'Recusar tudo',
      'banner.customize': 'Personalizar',
      'banner.close': 'Fechar',
      'banner.policy': 'Política de privacidade',
      'banner.google': 'Como a Google utiliza os dados',
      'gpc.note': 'O seu navegador envia um sinal Global Privacy Control. Respeitamo-lo: os seus dados não são vendidos nem partilhados para publicidade.',
      'fab.label': 'Definições de privacidade',
      'center.title': 'Centro de privacidade',
      'center.close': 'Fechar o centro de privacidade',
      'tab.choices': 'As suas escolhas',
      'tab.history': 'Histórico',
      'tab.requests': 'Pedidos',
      'choices.intro': 'Escolha que categorias de cookies e tecnologias semelhantes este site pode usar.',
      'choices.save': 'Guardar escolhas',
      'choices.saved': 'As suas escolhas foram guardadas.',
      'choices.alwaysOn': 'Sempre ativo',
      'category.strictly_necessary': 'Estritamente necessários',
      'category.strictly_necessary.description': 'Necessários para o funcionamento do site, por exemplo para a segurança e para lembrar as suas escolhas.',
      'category.analytics': 'Análise',
      'category.analytics.description': 'Ajuda-nos a perceber como o site é usado para o melhorar.',
      'category.advertising': 'Publicidade',
      'category.advertising.description': 'Serve para mostrar anúncios relevantes e medi-los, aqui e noutros sites.',
      'category.personalization': 'Personalização',
      'category.personalization.description': 'Lembra as suas preferências e adapta o conteúdo.',
      'dns.title': 'Não vender nem partilhar as minhas informações pessoais',
      'dns.description': 'Pode opor-se à venda ou partilha das suas informações pessoais para publicidade.',
      'dns.button': 'Opor-me à venda e partilha',
      'dns.done': 'Opôs-se à venda e partilha das suas informações pessoais.',
      'dns.request': 'Enviar um pedido formal',
      'history.empty': 'Ainda não há consentimentos registados.',
      'history.type': 'Categoria',
      'history.state': 'Escolha',
      'history.date': 'Data',
      'state.accepted': 'Aceite',
      'state.declined': 'Recusado',
      'state.implied': 'Implícito',
      'state.viewed': 'Visto',
      'requests.intro': 'Peça-nos uma cópia dos seus dados, a sua correção ou eliminação. Enviaremos um código para o seu email para confirmar o pedido.',
      'requests.mine': 'Os seus pedidos',
      'requests.new': 'Novo pedido',
      'request.type': 'Tipo de pedido',
      'request.view': 'Aceder aos meus dados',
      'request.change': 'Corrigir os meus dados',
      'request.delete': 'Eliminar os meus dados',
      'request.do_not_sell': 'Não vender nem partilhar os meus dados',
      'request.email': 'Endereço de email',
      'request.firstName': 'Nome próprio',
      'request.lastName': 'Apelido',
      'request.details': 'Detalhes (opcional)',
      'request.submit': 'Enviar pedido',
      'request.sent': 'Enviámos um código de 6 dígitos para {email}. Introduza-o para confirmar o pedido.',
      'request.code': 'Código de verificação',
      'request.verify': 'Confirmar',
      'request.verified': 'O seu pedido está confirmado.',
      'request.download': 'Transferir {file}',
      'request.date': 'Enviado em {date}',
      'status.pending_verification': 'A aguardar confirmação',
      'status.submitted': 'Recebido',
      'status.acknowledged': 'Em curso',
      'status.resolved': 'Concluído',
      'error.generic': 'Algo correu mal. Tente novamente.',
      'placeholder.text': 'Este conteúdo está bloqueado porque {category} não é permitido.',
      'placeholder.allow': 'Permitir {category}',
      'powered': 'Com tecnologia Accord'
    }
  };

  // ------------------------------------------------------------------------------------
  // Styles: one constructed stylesheet shared by every shadow root (no 'unsafe-inline').
  var CSS = ':host{all:initial}' +
    '*{box-sizing:border-box;font-family:var(--f);line-height:1.45}' +
    '.w{color:var(--fg);font-size:14px;-webkit-font-smoothing:antialiased}' +
    '.card{position:fixed;background:var(--bg);color:var(--fg);border:1px solid var(--bd);border-radius:var(--cr);box-shadow:0 10px 30px rgba(0,0,0,.25);padding:20px;max-height:calc(100vh - 32px);overflow:auto}' +
    '.box{width:400px;max-width:calc(100vw - 32px)}' +
    '.box.left-bottom{left:16px;bottom:16px}.box.left-top{left:16px;top:16px}.box.right-bottom{right:16px;bottom:16px}.box.right-top{right:16px;top:16px}' +
    '.box.center{left:50%;top:50%;transform:translate(-50%,-50%)}' +
    '.bar{left:0;right:0;bottom:0;border-radius:0;border-width:1px 0 0;display:flex;flex-wrap:wrap;gap:8px 24px;align-items:center;padding:16px 24px}' +
    '.bar.top{top:0;bottom:auto;border-width:0 0 1px}' +
    '.bar .txt{flex:1 1 420px;min-width:0}.bar .acts{margin:0;flex:0 1 auto}' +
    'h2{font-size:17px;font-weight:700;margin:0 0 6px;color:var(--fg)}' +
    'h3{font-size:15px;font-weight:700;margin:16px 0 6px;color:var(--fg)}' +
    'p{margin:0 0 8px}' +
    'a{color:var(--ln);text-decoration:underline}' +
    '.mut{color:var(--mu);font-size:13px}' +
    '.acts{display:flex;flex-wrap:wrap;gap:8px;margin-top:12px}' +
    '.acts button{flex:1 1 auto}' +
    'button,input,select,textarea{font:inherit;font-size:14px}' +
    'button{cursor:pointer;border-radius:var(--br);padding:9px 16px;font-weight:600;border:2px solid var(--pb);background:var(--pb);color:var(--pf);min-height:40px}' +
    'button.sec{background:transparent;color:var(--fg);border-color:var(--fg)}' +
    'button.lnk{background:none;border:0;color:var(--ln);text-decoration:underline;padding:4px 0;min-height:0;font-weight:400}' +
    'button:disabled{opacity:.6;cursor:default}' +
    ':focus-visible{outline:3px solid var(--fo);outline-offset:2px}' +
    '.x{position:absolute;top:8px;right:8px;background:transparent;border:0;color:var(--fg);width:36px;height:36px;padding:0;min-height:0;font-size:22px;line-height:1}' +
    '.gpc{border-left:4px solid var(--fg);background:var(--nb);padding:8px 10px;margin:8px 0;font-size:13px;border-radius:4px}' +
    '.err{color:var(--er);font-weight:600;margin:8px 0 0}' +
    '.ok{font-weight:600;margin:8px 0 0}' +
    '.scrim{position:fixed;inset:0;background:rgba(17,24,39,.45)}' +
    '.pc{position:fixed;top:0;bottom:0;right:0;width:440px;max-width:100vw;border-radius:0;max-height:none;padding:0;display:flex;flex-direction:column}' +
    '.pc.left{left:0;right:auto}' +
    '.pc header{padding:18px 56px 8px 20px}' +
    '.pc .body{padding:12px 20px 24px;overflow:auto;flex:1}' +
    '[role=tablist]{display:flex;gap:4px;border-bottom:1px solid var(--bd);padding:0 20px}' +
    '[role=tab]{background:transparent;color:var(--fg);border:0;border-bottom:3px solid transparent;border-radius:0;padding:8px 10px;font-weight:600}' +
    '[role=tab][aria-selected=true]{border-bottom-color:var(--fg)}' +
    '.cat{border:1px solid var(--bd);border-radius:var(--cr);padding:10px 12px;margin:8px 0}' +
    '.cat label{display:flex;justify-content:space-between;align-items:center;gap:12px;font-weight:600}' +
    '.cat p{margin:4px 0 0}' +
    'input[type=checkbox]{appearance:none;-webkit-appearance:none;flex:none;width:42px;height:24px;border-radius:12px;background:var(--mu);position:relative;cursor:pointer;margin:0;border:0}' +
    'input[type=checkbox]::after{content:"";position:absolute;top:3px;left:3px;width:18px;height:18px;border-radius:50%;background:var(--bg);transition:left .15s}' +
    'input[type=checkbox]:checked{background:var(--pb)}' +
    'input[type=checkbox]:checked::after{left:21px;background:var(--pf)}' +
    'input[type=checkbox]:disabled{opacity:.55;cursor:default}' +
    '.fld{display:block;margin:10px 0}' +
    '.fld span{display:block;font-weight:600;margin-bottom:4px}' +
    '.fld input,.fld select,.fld textarea{width:100%;padding:8px 10px;border:1px solid var(--mu);border-radius:var(--br);background:var(--bg);color:var(--fg)}' +
    'table{width:100%;border-collapse:collapse;font-size:13px}' +
    'th,td{text-align:left;padding:6px 4px;border-bottom:1px solid var(--bd);vertical-align:top}' +
    'ul.rq{list-style:none;margin:0;padding:0}' +
    'ul.rq li{border:1px solid var(--bd);border-radius:var(--cr);padding:10px 12px;margin:8px 0}' +
    '.badge{display:inline-block;font-size:12px;font-weight:700;border:1px solid var(--fg);border-radius:10px;padding:0 8px;margin-left:6px}' +
    '.code{display:flex;gap:8px;align-items:flex-end}.code .fld{flex:1;margin:6px 0 0}' +
    '.fab{position:fixed;border:0;background:var(--pb);color:var(--pf);box-shadow:0 4px 14px rgba(0,0,0,.3);padding:0;display:flex;align-items:center;justify-content:center}' +
    '.fab.circle{width:48px;height:48px;border-radius:50%}' +
    '.fab.tab{width:40px;height:48px;border-radius:8px 0 0 8px}.fab.tab.left{border-radius:0 8px 8px 0}' +
    '.fab svg{width:26px;height:26px;fill:currentColor}' +
    '.ph{position:absolute;display:flex;flex-direction:column;align-items:center;justify-content:center;text-align:center;gap:10px;padding:16px;background:var(--bg);color:var(--fg);border:1px dashed var(--mu);overflow:auto}' +
    '.pw{font-size:12px;margin-top:10px}' +
    '[hidden]{display:none!important}' +
    '@media (max-width:520px){.box{left:8px!important;right:8px!important;width:auto;max-width:none;transform:none!important;top:auto!important;bottom:8px!important}}' +
    '@media (prefers-reduced-motion:reduce){*{transition:none!important}}';
  var sheet = null;
  function styled(root) {
    try {
      if (!sheet) { sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); }
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      var s = d.createElement('style'); s.textContent = CSS; root.appendChild(s);
    }
  }

  // ------------------------------------------------------------------------------------
  // Small helpers.
  function h(tag, attrs, kids) {
    var el = d.createElement(tag), k;
    for (k in attrs || {}) {
      var v = attrs[k];
      if (v == null || v === false) continue;
      if (k === 'on') { for (var e in v) el.addEventListener(e, v[e]); }
      else if (k === 'text') el.textContent = v;
      else if (k in el && k !== 'list' && k !== 'form' && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    [].concat(kids || []).forEach(function (c) {
      if (c != null && c !== false) el.appendChild(typeof c === 'string' ? d.createTextNode(c) : c);
    });
    return el;
  }
  function get(o, path, dflt) {
    var parts = path.split('.');
    for (var i = 0; i < parts.length; i++) {
      if (o == null || typeof o !== 'object') return dflt;
      o = o[parts[i]];
    }
    return o == null ? dflt : o;
  }
  function region() { return C.region || {}; }
  function S(path, dflt) { return get(region().settings, path, dflt); }
  var uid = 0;
  function id(p) { return 'cc-' + p + '-' + (++uid); }

  function langTag() {
    return String(C.language || get(region(), 'language.defaultLanguage', '') || navigator.language || 'en').toLowerCase();
  }
  function lower(obj) {
    var out = {};
    for (var k in obj || {}) out[k.toLowerCase()] = obj[k];
    return out;
  }
  function t(key, vars) {
    var l = langTag(), base = l.split('-')[0], tr = lower(get(region(), 'language.translations', {}));
    var tiers = [tr[l], tr[base], L[l], L[base], tr.en, EN], s = key;
    for (var i = 0; i < tiers.length; i++) {
      if (tiers[i] && typeof tiers[i][key] === 'string') { s = tiers[i][key]; break; }
    }
    return s.replace(/\{(\w+)\}/g, function (m, k) { return vars && vars[k] != null ? String(vars[k]) : m; });
  }
  function has(key) { return t(key) !== key; }
  function fmtDate(v) {
    var x = new Date(typeof v === 'number' ? v : Date.parse(v));
    if (isNaN(x)) return '';
    try { return x.toLocaleString(langTag(), { dateStyle: 'medium', timeStyle: 'short' }); } catch (e) { return x.toISOString(); }
  }
  function errText(res) {
    var m = res && res.body && res.body.message;
    return (res && res.status >= 400 && res.status < 500 && m) ? String(m) : t('error.generic');
  }

  // ------------------------------------------------------------------------------------
  // Colours: the theme palette, with text and buttons kept readable (WCAG AA).
  function rgb(hex) {
    var m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
    if (!m) return null;
    var n = parseInt(m[1], 16);
    return [n >> 16 & 255, n >> 8 & 255, n & 255];
  }
  function lum(hex) {
    var c = rgb(hex) || [0, 0, 0];
    c = c.map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function contrast(a, b) {
    var x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  }
  function readable(on, prefer) {
    if (prefer && contrast(on, prefer) >= 4.5) return prefer;
    return contrast(on, '#111827') >= contrast(on, '#ffffff') ? '#111827' : '#ffffff';
  }
  function palette(theme) {
    var pri = rgb(S('branding.primaryColor')) ? S('branding.primaryColor') : '#111827';
    var sec = rgb(S('branding.secondaryColor')) ? S('branding.secondaryColor') : '#ffffff';
    var p;
    if (theme === 'dark') p = { bg: '#1f2937', fg: '#f9fafb', mu: '#d1d5db', bd: '#4b5563', nb: '#111827', er: '#fca5a5' };
    else if (theme === 'brand') {
      var fg = readable(pri, sec);
      p = { bg: pri, fg: fg, mu: fg, bd: fg, nb: 'transparent', er: fg };
      pri = sec; sec = readable(pri, p.bg);
    } else p = { bg: '#ffffff', fg: '#111827', mu: '#4b5563', bd: '#d1d5db', nb: '#f3f4f6', er: '#b91c1c' };
    // The filled button stands out from the card; its text reads on it.
    if (contrast(pri, p.bg) < 3) { pri = p.fg; }
    p.pb = pri;
    p.pf = readable(pri, sec);
    p.ln = contrast(S('branding.primaryColor', ''), p.bg) >= 4.5 && theme !== 'brand' ? S('branding.primaryColor') : p.fg;
    p.fo = p.fg;
    return p;
  }
  function fontStack() {
    var f = String(S('branding.font', 'Arial')).split(',').map(function (x) {
      x = x.trim().replace(/["'\\;{}<>]/g, '');
      return /^(serif|sans-serif|monospace|system-ui|cursive)$/.test(x) ? x : '"' + x + '"';
    }).filter(function (x) { return x !== '""'; });
    return f.concat(['system-ui', 'sans-serif']).join(',');
  }
  function cssLen(v, dflt) { return /^-?[0-9]+(\.[0-9]+)?(px|em|rem|%|vh|vw|pt)?$/.test(String(v)) ? (/[a-z%]$/.test(v) ? v : v + 'px') : dflt; }
  function paint(el, theme) {
    var p = palette(theme), st = el.style;
    for (var k in p) st.setProperty('--' + k, p[k]);
    st.setProperty('--f', fontStack());
    st.setProperty('--br', cssLen(S('branding.buttonRadius'), '6px'));
    st.setProperty('--cr', cssLen(S('branding.cardRadius'), '6px'));
  }

  // ------------------------------------------------------------------------------------
  // Shadow hosts: fixed, zero-sized, so the host page never reflows.
  function host(name) {
    var el = d.createElement('div');
    el.setAttribute('data-concord', name);
    var st = el.style;
    ['position:fixed', 'top:0', 'left:0', 'width:0', 'height:0', 'margin:0', 'padding:0', 'border:0',
      'display:block', 'overflow:visible', 'z-index:2147483646', 'transform:none', 'filter:none', 'contain:none'].forEach(function (r) {
      var i = r.indexOf(':');
      st.setProperty(r.slice(0, i), r.slice(i + 1), 'important');
    });
    var root = el.attachShadow({ mode: 'open' });
    styled(root);
    d.body.appendChild(el);
    return root;
  }
  var ui = null; // the shadow root holding the banner, the floating button and the center
  function root() { if (!ui) ui = host('widget'); return ui; }

  // ------------------------------------------------------------------------------------
  // Consent types and state.
  function sub(x) { return (x.subcategory && x.subcategory[0]) || x.label; }
  function isAds(x) { return (x.subcategory || []).indexOf('advertising') >= 0 || x.label === 'advertising'; }
  var TRACKER_CAT = { marketing: 'advertising', analytics: 'analytics', functional: 'personalization', strictly_necessary: 'strictly_necessary' };
  function types() {
    var all = (get(C, 'config.consentTypes', []) || []).filter(function (ct) {
      return ct.category === 'privacy_setting' && (!ct.status || ct.status === 'active');
    });
    if (S('consent.hideUnusedCategories', false)) {
      var used = {};
      (get(C, 'config.trackers', []) || []).forEach(function (tr) { used[TRACKER_CAT[tr.category] || tr.category] = 1; });
      all = all.filter(function (ct) { return ct.required || used[sub(ct)]; });
    }
    return all.sort(function (a, b) { return (b.required ? 1 : 0) - (a.required ? 1 : 0); });
  }
  function stateOf(ct) {
    var items = get(C, 'state.items', []) || [];
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      if (it.consentType === ct.id || (it.category === ct.category && it.label === ct.label && sub(it) === sub(ct))) return it.consentState;
    }
    return null;
  }
  function allows(ct, st) { return !ct.validStates || !ct.validStates.length || ct.validStates.indexOf(st) >= 0; }
  /** Whether a type is on: its state, or else the region's default (implied mode grants). */
  function isOn(ct) {
    if (ct.required) return true;
    var st = stateOf(ct);
    if (st) return st === 'accepted' || st === 'implied';
    if (C.gpcHonoured && isAds(ct)) return false;
    return S('consent.consentMode', 'express') === 'implied';
  }
  function label(ct) {
    var k = 'category.' + sub(ct);
    return has(k) ? t(k) : (ct.name || sub(ct));
  }
  function describe(ct) {
    var k = 'category.' + sub(ct) + '.description';
    return has(k) ? t(k) : (ct.description || '');
  }
  /** The visitor made a choice (a click, or the page's own call) that is still fresh: only
   * those write `accepted`, or `declined` other than the automatic GPC opt-out. */
  function chosen() {
    var months = +S('consent.consentDuration', 12) || 12, cutoff = Date.now() - months * 2629746000;
    return (get(C, 'state.items', []) || []).some(function (it) {
      if (it.category !== 'privacy_setting') return false;
      if (it.consentState !== 'accepted' && it.consentState !== 'declined') return false;
      if (it.consentState === 'declined' && C.gpcHonoured && isAds(it)) return false;
      return !(Date.parse(it.consentDate) < cutoff);
    });
  }
  /** Records one user_click event per type; `on(ct)` says accepted or declined. Required
   * types are recorded as accepted: that is the mark that the visitor chose. */
  function record(on) {
    var evs = [];
    types().forEach(function (ct) {
      var st = ct.required || on(ct) ? 'accepted' : 'declined';
      if (!allows(ct, st)) return;
      evs.push(event(ct, st));
    });
    return send(evs);
  }
  /** One call for the whole choice (the site client takes a list: one request, one update of
   * Consent Mode and one concord-change). */
  function send(evs) {
    return evs.length ? C.consent.addConsentEvent(evs) : Promise.resolve();
  }
  function event(ct, st) {
    return { category: ct.category, subcategory: ct.subcategory, label: ct.label, consentState: st, consentAction: 'user_click' };
  }

  // ------------------------------------------------------------------------------------
  // Dialog plumbing: focus trap, Escape, focus return.
  var modal = null; // {el, close}
  function focusables(el) {
    return [].slice.call(el.querySelectorAll('button,a[href],input,select,textarea,[tabindex]:not([tabindex="-1"])')).filter(function (x) {
      return !x.disabled && !x.closest('[hidden]') && x.getClientRects().length;
    });
  }
  function active() { return ui && ui.activeElement; }
  function opener() {
    var a = d.activeElement;
    return a && a.getAttribute && a.getAttribute('data-concord') === 'widget' ? active() : a;
  }
  function restore(to) {
    if (!(to && to.isConnected && to.focus)) to = fabEl;
    try { if (to) to.focus(); } catch (e) { /* the page moved on */ }
  }
  function trap(e) {
    if (!modal) return;
    if (e.key === 'Escape') { e.preventDefault(); modal.close(); return; }
    if (e.key !== 'Tab') return;
    var f = focusables(modal.el);
    if (!f.length) return;
    var first = f[0], last = f[f.length - 1], a = active();
    if (e.shiftKey && (a === first || !modal.el.contains(a))) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (a === last || !modal.el.contains(a))) { e.preventDefault(); first.focus(); }
  }
  d.addEventListener('keydown', trap, true);
  d.addEventListener('focusin', function (e) {
    if (modal && e.target.getAttribute && e.target.getAttribute('data-concord') !== 'widget') {
      var f = focusables(modal.el);
      if (f.length) f[0].focus();
    }
  }, true);

  // ------------------------------------------------------------------------------------
  // The banner.
  var banner = null, dismissed = false, bannerReturn = null;
  function gpcNote() { return C.gpcHonoured ? h('p', { 'class': 'gpc', role: 'note', 'data-cc': 'gpc', text: t('gpc.note') }) : null; }
  function policyLinks() {
    var links = [], pol = S('consent.consentBanner.policy');
    var url = pol && typeof pol === 'object' ? pol.url : null;
    if (!url) {
      (get(C, 'config.consentTypes', []) || []).forEach(function (ct) { if (!url && ct.label === 'privacy_policy' && ct.url) url = ct.url; });
    }
    if (url && /^https?:/i.test(url)) links.push(h('a', { href: url, target: '_blank', rel: 'noopener', 'data-cc': 'policy', text: t('banner.policy') }));
    if (S('consent.consentBanner.showGooglePrivacyPolicy', false)) {
      var g = S('consent.gcmPolicy', 'https://business.safety.google/privacy');
      if (/^https?:/i.test(g)) links.push(h('a', { href: g, target: '_blank', rel: 'noopener', text: t('banner.google') }));
    }
    var out = [];
    links.forEach(function (a, i) { if (i) out.push(' · '); out.push(a); });
    return out;
  }
  function hideBanner(refocus) {
    if (!banner) return;
    banner.remove();
    banner = null;
    if (refocus) restore(bannerReturn);
    fab();
  }
  function choose(on, btn) {
    var msg = banner && banner.querySelector('.err');
    [].forEach.call(banner ? banner.querySelectorAll('button') : [], function (b) { b.disabled = true; });
    return record(on).then(function () {
      hideBanner(true);
    }, function () {
      if (banner) {
        [].forEach.call(banner.querySelectorAll('button'), function (b) { b.disabled = false; });
        if (msg) { msg.hidden = false; msg.textContent = t('error.generic'); }
        if (btn) btn.focus();
      }
    });
  }
  function acceptAll() {
    // A blanket "accept all" does not override a GPC opt-out; a specific toggle does.
    return function (ct) { return !(C.gpcHonoured && isAds(ct)); };
  }
  function showBanner() {
    if (!C.region || !d.body) return;
    if (banner) { banner.focus(); return; }
    if (modal) modal.close(false);
    var theme = S('consent.consentBanner.theme', 'light'), layout = S('consent.consentBanner.layout', 'box') === 'bar' ? 'bar' : 'box';
    var pos = String(S('consent.consentBanner.position', 'left-bottom'));
    var tid = id('bt'), did = id('bd'), showTitle = S('consent.consentBanner.title', true) !== false;
    var acts = h('div', { 'class': 'acts' }, [
      S('consent.consentBanner.customizeButton', true) !== false ? h('button', { type: 'button', 'class': 'sec', 'data-cc': 'customize', text: t('banner.customize'), on: { click: function () { showCenter('choices'); } } }) : null,
      S('consent.consentBanner.denyButton', true) !== false ? h('button', { type: 'button', 'data-cc': 'deny', text: t('banner.deny'), on: { click: function (e) { choose(function () { return false; }, e.currentTarget); } } }) : null,
      h('button', { type: 'button', 'data-cc': 'accept', text: t('banner.accept'), on: { click: function (e) { choose(acceptAll(), e.currentTarget); } } })
    ]);
    var links = policyLinks();
    var txt = h('div', { 'class': 'txt' }, [
      showTitle ? h('h2', { id: tid, text: t('banner.title') }) : null,
      h('p', { id: did }, [t('banner.description')].concat(links.length ? [' '].concat(links) : [])),
      gpcNote(),
      h('p', { 'class': 'err', role: 'alert', hidden: true })
    ]);
    banner = h('div', {
      'class': 'w card ' + layout + ' ' + (layout === 'bar' ? (pos.indexOf('top') >= 0 ? 'top' : 'bottom') : pos),
      role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': showTitle ? tid : null,
      'aria-label': showTitle ? null : t('banner.title'), 'aria-describedby': did,
      tabindex: '-1', 'data-cc': 'banner', lang: langTag()
    }, [
      S('consent.consentBanner.closeButton', false) ? h('button', { type: 'button', 'class': 'x', 'aria-label': t('banner.close'), 'data-cc': 'close', text: '×', on: { click: function () { dismissed = true; hideBanner(true); } } }) : null,
      txt, acts,
      S('branding.poweredByConcord', false) ? h('p', { 'class': 'pw mut', text: t('powered') }) : null
    ]);
    paint(banner, theme);
    if (fabEl) { fabEl.remove(); fabEl = null; }
    bannerReturn = opener();
    root().appendChild(banner);
    var first = acts.querySelector('[data-cc=accept]');
    (first || banner).focus({ preventScroll: true });
  }

  // ------------------------------------------------------------------------------------
  // The floating button.
  var fabEl = null;
  var COOKIE = 'M12 2a10 10 0 1 0 10 10 4 4 0 0 1-5-5 4 4 0 0 1-5-5zm-3.5 7a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm3 6a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm5 0a1 1 0 1 1 0 2 1 1 0 0 1 0-2z';
  var SHIELD = 'M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5z';
  function fab() {
    var fb = S('floatingButton', {}) || {};
    if (fb.enabled === false || banner || fabEl || !C.region) return;
    var side = fb.position === 'left' ? 'left' : 'right', type = fb.type === 'tab' ? 'tab' : 'circle';
    var svg = d.createElementNS('http://www.w3.org/2000/svg', 'svg'), path = d.createElementNS('http://www.w3.org/2000/svg', 'path');
    svg.setAttribute('viewBox', '0 0 24 24'); svg.setAttribute('aria-hidden', 'true'); svg.setAttribute('focusable', 'false');
    path.setAttribute('d', fb.icon === 'shield' ? SHIELD : COOKIE);
    svg.appendChild(path);
    fabEl = h('button', { type: 'button', 'class': 'w fab ' + type + ' ' + side, 'aria-label': t('fab.label'), title: t('fab.label'), 'data-cc': 'fab', lang: langTag(), on: { click: function () { showCenter(); } } }, [svg]);
    paint(fabEl, fb.theme === 'dark' ? 'dark' : 'light');
    var st = fabEl.style;
    if (type === 'circle') { st.setProperty(side, cssLen(fb.circleOffsetX, '24px')); st.setProperty('bottom', cssLen(fb.circleOffsetY, '24px')); }
    else { st.setProperty(side, '0'); st.setProperty('top', cssLen(fb.tabOffsetY, '256px')); }
    root().appendChild(fabEl);
  }

  // ------------------------------------------------------------------------------------
  // The privacy center.
  var center = null; // {el, panels, tabs, dirty, select(name)}
  function closeCenter(refocus) {
    if (!center) return;
    var c = center;
    center = null; modal = null;
    c.el.remove();
    if (refocus !== false) restore(c.ret);
  }
  function showCenter(tab) {
    if (!C.region || !d.body) return;
    if (center) { center.select(tab || 'choices'); return; }
    var pc = S('privacyCenter', {}) || {};
    var theme = { dark: 'dark', brand: 'brand' }[pc.theme] || 'light';
    var ret = opener(), tid = id('pt');
    var names = ['choices'];
    if (pc.consentHistory !== false) names.push('history');
    if (pc.privacyRequests !== false) names.push('requests');
    var tabs = {}, panels = {}, tablist = h('div', { role: 'tablist', 'aria-label': t('center.title') });
    var body = h('div', { 'class': 'body' });
    names.forEach(function (n) {
      var pid = id('tp'), bid = id('tb');
      tabs[n] = h('button', { type: 'button', role: 'tab', id: bid, 'aria-controls': pid, 'aria-selected': 'false', tabindex: '-1', 'data-cc': 'tab-' + n, text: t('tab.' + n),
        on: { click: function () { select(n); }, keydown: function (e) {
          var i = names.indexOf(n), j = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? names.length - 1 : null;
          if (j == null) return;
          e.preventDefault();
          j = (j + names.length) % names.length;
          select(names[j]); tabs[names[j]].focus();
        } } });
      panels[n] = h('div', { role: 'tabpanel', id: pid, 'aria-labelledby': bid, hidden: true, 'data-cc': 'panel-' + n });
      tablist.appendChild(tabs[n]); body.appendChild(panels[n]);
    });
    var panel = h('div', {
      'class': 'w card pc ' + (pc.position === 'left' ? 'left' : 'right'), role: 'dialog', 'aria-modal': 'true',
      'aria-labelledby': tid, 'data-cc': 'center', lang: langTag()
    }, [
      h('header', {}, [h('h2', { id: tid, text: t('center.title') }), gpcNote()]),
      h('button', { type: 'button', 'class': 'x', 'aria-label': t('center.close'), 'data-cc': 'center-close', text: '×', on: { click: function () { closeCenter(); } } }),
      tablist, body
    ]);
    var el = h('div', { 'data-cc': 'center-root' }, [h('div', { 'class': 'scrim', on: { click: function () { closeCenter(); } } }), panel]);
    paint(el, theme);
    center = { el: el, panels: panels, ret: ret, dirty: false, select: select, shown: {} };
    modal = { el: panel, close: closeCenter };
    function select(n) {
      if (!panels[n]) n = 'choices';
      names.forEach(function (m) {
        tabs[m].setAttribute('aria-selected', String(m === n));
        tabs[m].tabIndex = m === n ? 0 : -1;
        panels[m].hidden = m !== n;
      });
      if (!center.shown[n] || n === 'history') { center.shown[n] = 1; render(n); }
    }
    root().appendChild(el);
    select(tab || 'choices');
    tabs[tab && tabs[tab] ? tab : 'choices'].focus();
  }
  function render(n) {
    var p = center && center.panels[n];
    if (!p) return;
    p.textContent = '';
    if (n === 'choices') renderChoices(p);
    else if (n === 'history') renderHistory(p);
    else renderRequests(p);
  }

  function renderChoices(p) {
    var boxes = [];
    p.appendChild(h('p', { 'class': 'mut', text: t('choices.intro') }));
    types().forEach(function (ct) {
      var cid = id('c'), did = id('cd'), desc = describe(ct);
      var box = h('input', { type: 'checkbox', role: 'switch', id: cid, checked: isOn(ct), disabled: !!ct.required, 'aria-describedby': desc ? did : null, 'data-cc': 'toggle-' + ct.label,
        on: { change: function () { if (center) center.dirty = true; } } });
      box._ct = ct;
      boxes.push(box);
      p.appendChild(h('div', { 'class': 'cat' }, [
        h('label', { 'for': cid }, [h('span', {}, [label(ct), ct.required ? h('span', { 'class': 'mut', text: ' · ' + t('choices.alwaysOn') }) : null]), box]),
        desc ? h('p', { id: did, 'class': 'mut', text: desc }) : null
      ]));
    });
    var msg = h('p', { role: 'status', 'class': 'ok', 'data-cc': 'choices-status' });
    function save(on, btn) {
      btns.forEach(function (b) { b.disabled = true; });
      msg.className = 'ok'; msg.textContent = '';
      record(on).then(function () {
        if (center) center.dirty = false;
        boxes.forEach(function (b) { b.checked = on(b._ct) || !!b._ct.required; });
        msg.textContent = t('choices.saved');
        hideBanner(false);
      }, function () {
        msg.className = 'err'; msg.textContent = t('error.generic');
      }).then(function () { btns.forEach(function (b) { b.disabled = false; }); if (btn && btn.isConnected) btn.focus(); });
    }
    var btns = [
      h('button', { type: 'button', 'data-cc': 'save', text: t('choices.save'), on: { click: function (e) {
        var on = {};
        boxes.forEach(function (b) { on[b._ct.id] = b.checked; });
        save(function (ct) { return !!on[ct.id]; }, e.currentTarget);
      } } }),
      h('button', { type: 'button', 'class': 'sec', 'data-cc': 'center-deny', text: t('banner.deny'), on: { click: function (e) { save(function () { return false; }, e.currentTarget); } } }),
      h('button', { type: 'button', 'class': 'sec', 'data-cc': 'center-accept', text: t('banner.accept'), on: { click: function (e) { save(acceptAll(), e.currentTarget); } } })
    ];
    p.appendChild(h('div', { 'class': 'acts' }, btns));
    p.appendChild(msg);
    if (S('consent.doNotSell', false) || S('privacyCenter.doNotSellRequests', false)) p.appendChild(dnsSection());
    var links = policyLinks();
    if (links.length) p.appendChild(h('p', { 'class': 'mut' }, links));
  }

  function dnsSection() {
    var ads = types().filter(isAds);
    var out = ads.length && ads.every(function (ct) { return stateOf(ct) === 'declined'; });
    var msg = h('p', { role: 'status', 'class': 'ok', 'data-cc': 'dns-status', text: out ? t('dns.done') : '' });
    var hid = id('dh');
    var sec = h('section', { 'aria-labelledby': hid, 'data-cc': 'dns' }, [
      h('h3', { id: hid, text: t('dns.title') }),
      h('p', { 'class': 'mut', text: t('dns.description') })
    ]);
    var acts = h('div', { 'class': 'acts' });
    if (ads.length) {
      acts.appendChild(h('button', { type: 'button', 'data-cc': 'dns-optout', disabled: !!out, text: t('dns.button'), on: { click: function (e) {
        var b = e.currentTarget;
        b.disabled = true;
        send(ads.filter(function (ct) { return allows(ct, 'declined'); }).map(function (ct) { return event(ct, 'declined'); })).then(function () { msg.className = 'ok'; msg.textContent = t('dns.done'); },
          function () { b.disabled = false; msg.className = 'err'; msg.textContent = t('error.generic'); });
      } } }));
    }
    if (S('privacyCenter.doNotSellRequests', false) && S('privacyCenter.privacyRequests', true) !== false) {
      acts.appendChild(h('button', { type: 'button', 'class': 'sec', 'data-cc': 'dns-request', text: t('dns.request'), on: { click: function () {
        center.select('requests');
        var sel = center.panels.requests.querySelector('select');
        if (sel) { sel.value = 'do_not_sell'; sel.focus(); }
      } } }));
    }
    sec.appendChild(acts);
    sec.appendChild(msg);
    return sec;
  }

  function typeName(ev) {
    var cts = get(C, 'config.consentTypes', []) || [];
    for (var i = 0; i < cts.length; i++) if (cts[i].id === ev.consentType) return cts[i].category === 'privacy_setting' ? label(cts[i]) : cts[i].name;
    return ev.label || ev.category;
  }
  function renderHistory(p) {
    p.setAttribute('aria-busy', 'true');
    C.site('GET', '/consent-events?limit=50').then(function (res) {
      p.removeAttribute('aria-busy');
      if (res.status !== 200) { p.appendChild(h('p', { 'class': 'err', role: 'alert', text: errText(res) })); return; }
      var items = (res.body && res.body.items) || [];
      if (!items.length) { p.appendChild(h('p', { 'class': 'mut', text: t('history.empty') })); return; }
      p.appendChild(h('table', { 'data-cc': 'history' }, [
        h('thead', {}, h('tr', {}, [h('th', { scope: 'col', text: t('history.date') }), h('th', { scope: 'col', text: t('history.type') }), h('th', { scope: 'col', text: t('history.state') })])),
        h('tbody', {}, items.map(function (ev) {
          return h('tr', {}, [h('td', { text: fmtDate(ev.consentDate) }), h('td', { text: typeName(ev) }), h('td', { text: t('state.' + ev.consentState) })]);
        }))
      ]));
    }, function () { p.removeAttribute('aria-busy'); p.appendChild(h('p', { 'class': 'err', role: 'alert', text: t('error.generic') })); });
  }

  // Requests: the form, the visitor's requests with code entry, status and downloads.
  function requestKinds() {
    var k = ['view', 'change', 'delete'];
    if (S('consent.doNotSell', false) || S('privacyCenter.doNotSellRequests', false)) k.push('do_not_sell');
    return k;
  }
  function field(lbl, input) {
    return h('label', { 'class': 'fld' }, [h('span', { text: lbl }), input]);
  }
  function renderRequests(p) {
    var list = h('ul', { 'class': 'rq', 'data-cc': 'requests' });
    var listHead = id('rl'), formHead = id('rf');
    var kind = h('select', { name: 'request', 'data-cc': 'request-type' }, requestKinds().map(function (k) { return h('option', { value: k, text: t('request.' + k) }); }));
    var email = h('input', { type: 'email', name: 'userEmail', required: true, autocomplete: 'email', 'data-cc': 'request-email' });
    var first = h('input', { type: 'text', name: 'userFirstName', autocomplete: 'given-name', maxlength: '128' });
    var last = h('input', { type: 'text', name: 'userLastName', autocomplete: 'family-name', maxlength: '128' });
    var details = h('textarea', { name: 'requestDetails', rows: '3', maxlength: '4000', 'data-cc': 'request-details' });
    var err = h('p', { 'class': 'err', role: 'alert', hidden: true });
    var submit = h('button', { type: 'submit', 'data-cc': 'request-submit', text: t('request.submit') });
    var form = h('form', { 'aria-labelledby': formHead, novalidate: true, 'data-cc': 'request-form', on: { submit: function (e) {
      e.preventDefault();
      err.hidden = true;
      if (!email.value || !email.checkValidity()) { err.hidden = false; err.textContent = t('request.email') + ' ✕'; email.focus(); return; }
      var body = { request: kind.value, userEmail: email.value.trim(), captureUrl: location.href.slice(0, 2048) };
      if (first.value.trim()) body.userFirstName = first.value.trim();
      if (last.value.trim()) body.userLastName = last.value.trim();
      if (details.value.trim()) body.requestDetails = details.value.trim();
      submit.disabled = true;
      C.site('POST', '/compliance-requests', body).then(function (res) {
        submit.disabled = false;
        if (res.status !== 201) { err.hidden = false; err.textContent = errText(res); return; }
        form.reset();
        var li = requestItem(res.body, body.userEmail);
        list.insertBefore(li, list.firstChild);
        var none = p.querySelector('[data-cc=requests-none]');
        if (none) none.remove();
        var code = li.querySelector('input');
        if (code) code.focus();
      }, function () { submit.disabled = false; err.hidden = false; err.textContent = t('error.generic'); });
    } } }, [
      field(t('request.type'), kind), field(t('request.email'), email), field(t('request.firstName'), first),
      field(t('request.lastName'), last), field(t('request.details'), details), err, h('div', { 'class': 'acts' }, submit)
    ]);
    p.appendChild(h('p', { 'class': 'mut', text: t('requests.intro') }));
    p.appendChild(h('h3', { id: listHead, text: t('requests.mine') }));
    list.setAttribute('aria-labelledby', listHead);
    p.appendChild(list);
    p.appendChild(h('h3', { id: formHead, text: t('requests.new') }));
    p.appendChild(form);
    C.site('GET', '/compliance-requests?limit=20').then(function (res) {
      var items = (res.status === 200 && res.body && res.body.items) || [];
      items.forEach(function (r) { list.appendChild(requestItem(r)); });
      if (!list.firstChild) list.parentNode.insertBefore(h('p', { 'class': 'mut', 'data-cc': 'requests-none', text: '—' }), list);
    }, function () { /* the form still works */ });
  }
  function requestItem(r, sentTo) {
    var li = h('li', { 'data-cc': 'request', 'data-id': r.id });
    function draw() {
      li.textContent = '';
      li.setAttribute('data-status', r.status);
      li.appendChild(h('p', {}, [h('strong', { text: t('request.' + r.request) }), h('span', { 'class': 'badge', 'data-cc': 'request-status', text: t('status.' + r.status) })]));
      li.appendChild(h('p', { 'class': 'mut', text: t('request.date', { date: fmtDate(r.requestDate || r.dateCreated) }) }));
      if (r.status === 'pending_verification') li.appendChild(codeForm());
      if (r.status === 'resolved') {
        if (r.resolution) li.appendChild(h('p', { 'data-cc': 'request-resolution', text: r.resolution }));
        (r.files || []).forEach(function (f) {
          li.appendChild(h('p', {}, h('button', { type: 'button', 'class': 'lnk', 'data-cc': 'download', 'data-file': f.fileName, text: t('request.download', { file: f.fileName }), on: { click: function (e) { download(r, f, e.currentTarget); } } })));
        });
      }
    }
    function codeForm() {
      var inp = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: '6', 'data-cc': 'code' });
      var err = h('p', { 'class': 'err', role: 'alert', hidden: true });
      var btn = h('button', { type: 'submit', 'data-cc': 'verify', text: t('request.verify') });
      return h('form', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var code = inp.value.replace(/\s+/g, '');
        err.hidden = true;
        if (!/^[0-9]{6}$/.test(code)) { err.hidden = false; err.textContent = t('request.code') + ': 000000–999999'; inp.focus(); return; }
        btn.disabled = true;
        C.site('POST', '/compliance-requests/' + encodeURIComponent(r.id) + '/verify', { code: code }).then(function (res) {
          btn.disabled = false;
          if (res.status !== 200) { err.hidden = false; err.textContent = errText(res); inp.focus(); return; }
          r = res.body;
          draw();
          li.appendChild(h('p', { 'class': 'ok', role: 'status', 'data-cc': 'verified', text: t('request.verified') }));
        }, function () { btn.disabled = false; err.hidden = false; err.textContent = t('error.generic'); });
      } } }, [
        sentTo ? h('p', { role: 'status', text: t('request.sent', { email: sentTo }) }) : null,
        h('div', { 'class': 'code' }, [field(t('request.code'), inp), btn]), err
      ]);
    }
    draw();
    return li;
  }
  /** Downloads a file of a resolved request with the session token: the bytes go through a
   * blob URL, so nothing but the Accord server is contacted. */
  function download(r, f, btn) {
    var base = String(get(C, 'config.apiBase', '')).replace(/\/+$/, '');
    var pid = get(C, 'config.projectId', '');
    var path = f.filePath && /^\/site-v1\//.test(f.filePath) ? f.filePath
      : '/site-v1/' + pid + '/compliance-requests/' + encodeURIComponent(r.id) + '/files/' + encodeURIComponent(f.fileName);
    var token = null;
    try { token = localStorage.getItem('concord.session'); } catch (e) { /* storage blocked */ }
    btn.disabled = true;
    fetch(base + path, { headers: token ? { 'x-session': token } : {}, credentials: 'omit' }).then(function (res) {
      var fresh = res.headers.get('x-session');
      if (fresh) { try { localStorage.setItem('concord.session', fresh); } catch (e) { /* ignore */ } }
      if (!res.ok) throw new Error(String(res.status));
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob), a = h('a', { href: url, download: f.fileName, hidden: true });
      root().appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      btn.disabled = false;
      btn.setAttribute('data-downloaded', 'true');
      btn.setAttribute('data-bytes', String(blob.size));
    }, function () {
      btn.disabled = false;
      btn.parentNode.appendChild(h('span', { 'class': 'err', role: 'alert', text: ' ' + t('error.generic') }));
    });
  }

  // ------------------------------------------------------------------------------------
  // Placeholders over blocked iframes: positioned at the iframe's own place (an absolute
  // box at its static position), so the page layout does not move.
  var holders = [];
  function categoryTypes(cat) {
    var want = TRACKER_CAT[cat] || cat, all = types();
    var m = all.filter(function (ct) { return sub(ct) === want || ct.label === want; });
    return m.length ? m : all.filter(function (ct) { return !ct.required; });
  }
  function placeholders() {
    if (!S('placeholders.enabled', false) || !d.body) return;
    holders = holders.filter(function (x) {
      if (x.frame.isConnected && x.frame.hasAttribute('data-concord-blocked')) { size(x); return true; }
      x.host.remove();
      if (x.ro) x.ro.disconnect();
      return false;
    });
    [].forEach.call(d.querySelectorAll('iframe[data-concord-blocked]'), function (fr) {
      for (var i = 0; i < holders.length; i++) if (holders[i].frame === fr) return;
      var cat = fr.getAttribute('data-concord-blocked'), cts = categoryTypes(cat);
      var name = cts.length === 1 ? label(cts[0]) : (has('category.' + (TRACKER_CAT[cat] || cat)) ? t('category.' + (TRACKER_CAT[cat] || cat)) : cat);
      var el = d.createElement('div');
      el.setAttribute('data-concord', 'placeholder');
      ['position:absolute', 'width:0', 'height:0', 'margin:0', 'padding:0', 'border:0', 'display:block', 'z-index:1'].forEach(function (r) {
        var k = r.indexOf(':');
        el.style.setProperty(r.slice(0, k), r.slice(k + 1), 'important');
      });
      var sr = el.attachShadow({ mode: 'open' });
      styled(sr);
      var box = h('div', { 'class': 'w ph', role: 'region', 'aria-label': t('placeholder.text', { category: name }), lang: langTag() }, [
        h('p', { text: t('placeholder.text', { category: name }) }),
        h('button', { type: 'button', 'data-cc': 'allow', text: t('placeholder.allow', { category: name }), on: { click: function (e) {
          var b = e.currentTarget;
          b.disabled = true;
          send(cts.filter(function (ct) { return allows(ct, 'accepted'); }).map(function (ct) { return event(ct, 'accepted'); })).then(null, function () { b.disabled = false; });
        } } })
      ]);
      paint(box, S('placeholders.theme', 'light') === 'dark' ? 'dark' : 'light');
      sr.appendChild(box);
      fr.parentNode.insertBefore(el, fr);
      var x = { frame: fr, host: el, box: box };
      if (w.ResizeObserver) { x.ro = new ResizeObserver(function () { size(x); }); x.ro.observe(fr); }
      size(x);
      holders.push(x);
    });
  }
  function size(x) {
    x.box.style.setProperty('width', (x.frame.offsetWidth || 300) + 'px');
    x.box.style.setProperty('height', (x.frame.offsetHeight || 150) + 'px');
  }

  // ------------------------------------------------------------------------------------
  // Start-up and the interface with the site client.
  var started = false;
  function update() {
    if (!started) return;
    if (banner && chosen()) hideBanner(false);
    if (center && !center.dirty && center.panels.choices && !center.panels.choices.hidden) {
      var a = active(), key = a && a.getAttribute('data-cc');
      render('choices');
      var again = key && center.panels.choices.querySelector('[data-cc="' + key + '"]');
      if (again) again.focus();
    }
    placeholders();
  }
  function start() {
    if (started || !C.region) return;
    if (!d.body) { d.addEventListener('DOMContentLoaded', start); return; }
    started = true;
    if (S('consent.consentBanner.enabled', true) !== false && types().length && !chosen() && !dismissed) showBanner();
    else fab();
    placeholders();
    if (w.MutationObserver && S('placeholders.enabled', false)) {
      var queued = false;
      new MutationObserver(function () {
        if (queued) return;
        queued = true;
        setTimeout(function () { queued = false; placeholders(); }, 50);
      }).observe(d.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-concord-blocked'] });
    }
  }
  C.widget = {
    showBanner: function () { if (started) showBanner(); else pending = 'banner'; },
    showPrivacyCenter: function () { if (started) showCenter(); else pending = 'center'; },
    update: update
  };
  var pending = null;
  function ready() {
    start();
    if (pending === 'banner') showBanner();
    if (pending === 'center') showCenter();
    pending = null;
  }
  if (C.state) ready();
  else w.addEventListener('concord-ready', ready);
})();
